"""`POST /agreements/peer-networks`: the networks a peer deployment lists in its published document, read for an operator.

The operator's propose form offers the peer network by name once the peer's base URL is given, and the agreement
pages name peers by name: both need the peer's `/.well-known/yui-federation`. Federation is the one service that
speaks to peers, so it fetches the document, with the same client as its messages: the CA certificate the operator
gave (or the pinned CA of this network's agreement with that base URL) as the only trust, else the system's."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from yui_common import audit
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from federation.agreements.service import OPERATOR, OPERATORS_ONLY, ca_certificate
from federation.keys.api import NetworkRead
from federation.messages.peers import WELL_KNOWN
from federation.models import Agreement
from federation.problems import answered, forbidden, peer_unreachable

# Included by the agreements router (under /agreements): a POST, so it never meets GET /agreements/{id}.
router = APIRouter(tags=["agreements"])


class PeerNetworksQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The same pattern as a proposal's peer_base_url.
    base_url: str = Field(
        pattern=r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?$", max_length=300
    )
    # The peer's CA certificate to trust for this fetch; without it, the pinned CA of an agreement of this
    # network with that base URL, else the system's trust store.
    ca_pem: str | None = Field(default=None, min_length=1, max_length=20000)


class PeerNetworks(BaseModel):
    base_url: str
    networks: list[NetworkRead]


async def _pinned_ca(session: DbSession, tenant: str, base_url: str) -> str | None:
    found = await session.scalars(
        sa.select(Agreement.peer_ca_pem)
        .where(Agreement.tenant == tenant, Agreement.peer_base_url == base_url, Agreement.peer_ca_pem != "")
        .order_by(Agreement.created_at.desc())
        .limit(1)
    )
    return found.first()


def _networks(document: Any) -> list[NetworkRead]:
    listed = document.get("networks") if isinstance(document, dict) else None
    if not isinstance(listed, list):
        raise ValueError("no networks")
    return [NetworkRead.model_validate(n) for n in listed if isinstance(n, dict)]


@router.post(
    "/peer-networks",
    response_model=PeerNetworks,
    responses={
        403: {"description": "Only the network's operator (the refusal is audited)"},
        422: {"description": "A base URL or CA certificate that is not one"},
        503: {"description": "The peer's document could not be fetched or read"},
    },
    summary="The networks a peer deployment publishes (for proposing and naming peers)",
)
async def peer_networks(
    request: Request, session: DbSession, principal: CurrentPrincipal, query: PeerNetworksQuery
) -> PeerNetworks | JSONResponse:
    base = query.base_url.rstrip("/")
    if not principal.has_role(OPERATOR):
        await audit.record_by(
            session,
            principal,
            action="federation.peer-networks.read-refused",
            detail={"peer": base, "reason": "not-operator"},
        )
        return answered(request, forbidden(OPERATORS_ONLY))
    if query.ca_pem:
        ca_certificate(query.ca_pem)  # 422 unless a CA's certificate
    ca_pem = query.ca_pem or await _pinned_ca(session, principal.tenant, base)
    try:
        async with request.app.state.peer_clients.client(base, ca_pem) as client:
            response = await client.get(WELL_KNOWN)
            response.raise_for_status()
            networks = _networks(response.json())
    except (httpx.HTTPError, ValueError) as error:
        await audit.record_by(
            session,
            principal,
            action="federation.peer-networks.unreachable",
            detail={"peer": base, "error": type(error).__name__},
        )
        return answered(
            request,
            peer_unreachable(f"The peer's published document could not be read ({type(error).__name__})."),
        )
    await audit.record_by(
        session,
        principal,
        action="federation.peer-networks.read",
        detail={"peer": base, "count": len(networks), "pinned": bool(ca_pem)},
    )
    return PeerNetworks(base_url=base, networks=networks)
