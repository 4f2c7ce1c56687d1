"""The portal's client of federation: the operator's agreements (協定) with neighbouring networks, and the networks a
peer deployment publishes (read by federation, the one service that speaks to peers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field
from yui_common.vocabulary import POST_CATEGORIES

from portal.clients.base import Answer, ServiceClient

# What a peer's staff may be shown (federation's DATA_CATEGORIES): the timeline's post categories and the
# subject's record sections. The portal offers them in this order.
RECORD_SECTIONS: tuple[str, ...] = ("vitals", "summary", "medications")
DATA_CATEGORIES: tuple[str, ...] = (*POST_CATEGORIES, *RECORD_SECTIONS)
# The message types an agreement may let cross, as federation's AgreementCreate accepts them.
AGREEABLE_TYPES: tuple[str, ...] = ("yui.federation.audit-head.v1", "yui.federation.referral.v1")
# Each step an operator takes on an agreement, as federation's path names it.
STEP_PATHS: dict[str, str] = {
    "accept": "acceptance",
    "suspend": "suspension",
    "resume": "resumption",
    "end": "ending",
}


class Agreement(Answer):
    id: UUID
    network_source: str
    side: Literal["home", "peer"]
    state: Literal["proposed", "accepted", "suspended", "ended"]
    peer_source: str
    peer_base_url: str
    peer_ca_sha256: str | None = None
    event_types: list[str] = Field(default_factory=list)
    professions: dict[str, list[str]] = Field(default_factory=dict)
    cache_limit_hours: int
    governing_terms: str
    created_at: datetime
    state_changed_at: datetime

    @property
    def peer_tenant(self) -> str:
        """The peer network's slug, the last part of its source (…/networks/<slug>)."""
        return self.peer_source.rstrip("/").rsplit("/", 1)[-1]

    def steps(self) -> list[str]:
        """What this side's operator may do now (federation decides; this only offers the buttons)."""
        if self.state == "proposed":
            return ["accept", "end"] if self.side == "peer" else ["end"]
        if self.state == "accepted":
            return ["suspend", "end"]
        if self.state == "suspended":
            return ["resume", "end"]
        return []


class PeerNetwork(Answer):
    tenant: str
    source: str
    name: str | None = None


class PeerNetworks(Answer):
    base_url: str
    networks: list[PeerNetwork] = Field(default_factory=list)


class FederationDocument(Answer):
    networks: list[PeerNetwork] = Field(default_factory=list)


class FederationClient(ServiceClient):
    service = "federation"

    async def agreements(self) -> list[Agreement]:
        return await self.read(list[Agreement], "GET", "/agreements")

    async def agreement(self, agreement_id: UUID) -> Agreement:
        return await self.read(Agreement, "GET", f"/agreements/{agreement_id}")

    async def propose(self, proposal: dict[str, Any]) -> Agreement:
        return await self.read(Agreement, "POST", "/agreements", json=proposal)

    async def take_step(self, agreement_id: UUID, step: str, *, peer_ca_pem: str | None = None) -> Agreement:
        body = {"peer_ca_pem": peer_ca_pem} if step == "accept" and peer_ca_pem else None
        return await self.read(Agreement, "POST", f"/agreements/{agreement_id}/{STEP_PATHS[step]}", json=body)

    async def peer_networks(self, base_url: str, *, ca_pem: str | None = None) -> PeerNetworks:
        body: dict[str, str] = {"base_url": base_url}
        if ca_pem:
            body["ca_pem"] = ca_pem
        return await self.read(PeerNetworks, "POST", "/agreements/peer-networks", json=body)

    async def own_networks(self) -> list[PeerNetwork]:
        """The networks this deployment hosts, with their names, as peers read them (public)."""
        return (await self.read(FederationDocument, "GET", "/.well-known/yui-federation")).networks
