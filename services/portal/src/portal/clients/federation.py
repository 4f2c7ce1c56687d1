"""The portal's client of federation: the operator's agreements (協定) with neighbouring networks, the networks a
peer deployment publishes (read by federation, the one service that speaks to peers), and the staff's referrals
(紹介) of a subject to a peer network's facility."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field
from yui_common.vocabulary import POST_CATEGORIES, profession_label

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


# --- referrals (紹介): a subject of this network referred to a peer network's facility, and those shared with us ---


class ReferralFacility(Answer):
    id: UUID
    name: str


class ReferralOption(Answer):
    """An agreement the subject may be referred under: the peer network, its facilities, what may be shared."""

    agreement_id: UUID
    peer_network_name: str
    facilities: list[ReferralFacility] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    reachable: bool = True


def person_label(name: str, profession: str | None, facility_name: str | None, lang: str = "ja") -> str:
    """「名前（職種、施設）」 as yui_common.people.PersonRef.label writes a person (a peer's staff have no id here)."""
    detail = profession_label(profession, lang)
    if facility_name:
        detail += ("、" if lang == "ja" else ", ") + facility_name
    return f"{name}（{detail}）" if lang == "ja" else f"{name} ({detail})"


class ReferrerLabel(Answer):
    name: str
    profession: str
    facility_name: str

    def label(self, lang: str = "ja") -> str:
        return person_label(self.name, self.profession, self.facility_name, lang)


class Referral(Answer):
    id: UUID
    side: Literal["home", "peer"]
    state: Literal["active", "ended", "withdrawn"]
    subject_name: str
    subject_name_kana: str | None = None
    home_network_name: str
    peer_network_name: str
    facility_name: str
    purpose: str
    starts_on: date
    ends_on: date
    categories: list[str] = Field(default_factory=list)
    consent_basis: str
    referred_by: ReferrerLabel
    created_at: datetime
    ended_at: datetime | None = None
    withdrawn_at: datetime | None = None
    acknowledged_at: datetime | None = None


class SharedAuthor(Answer):
    name: str
    profession: str | None = None
    facility_name: str | None = None

    def label(self, lang: str = "ja") -> str:
        return person_label(self.name, self.profession, self.facility_name, lang)


class SharedPost(Answer):
    id: UUID
    parent_id: UUID | None = None
    category: str
    body: str
    created_at: datetime
    author: SharedAuthor
    # 既読 as home records it: who read the post (the peer's readers named with their network).
    read_by: list[SharedAuthor] = Field(default_factory=list)
    replies: list[SharedPost] = Field(default_factory=list)


class SharedTimeline(Answer):
    referral: Referral
    posts: list[SharedPost] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    from_cache: bool = False
    fetched_at: datetime


class ReferralClient(ServiceClient):
    """Referrals as the signed-in staff member: at home a member of the subject's care team, at the peer staff of
    the referred facility (federation decides who may do what; a refusal is a ServiceProblem)."""

    service = "federation"

    async def options(self, subject_id: UUID) -> list[ReferralOption]:
        return await self.read(
            list[ReferralOption], "GET", "/referrals/options", params={"subject_id": str(subject_id)}
        )

    async def of_subject(self, subject_id: UUID) -> list[Referral]:
        return await self.read(list[Referral], "GET", "/referrals", params={"subject_id": str(subject_id)})

    async def refer(self, referral: dict[str, Any]) -> Referral:
        return await self.read(Referral, "POST", "/referrals", json=referral)

    async def end(self, referral_id: UUID) -> Referral:
        return await self.read(Referral, "POST", f"/referrals/{referral_id}/end")

    async def shared_with_me(self) -> list[Referral]:
        return await self.read(list[Referral], "GET", "/referrals/shared")

    async def timeline(self, referral_id: UUID) -> SharedTimeline:
        return await self.read(SharedTimeline, "GET", f"/referrals/{referral_id}/timeline")

    async def post(self, referral_id: UUID, post: dict[str, Any]) -> SharedPost:
        return await self.read(SharedPost, "POST", f"/referrals/{referral_id}/posts", json=post)
