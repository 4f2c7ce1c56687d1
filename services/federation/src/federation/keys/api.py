"""`GET /.well-known/yui-federation` (the JWKS and networks peers read) and the contractor's key rotation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from yui_common import audit
from yui_common.auth import CurrentPrincipal, Principal
from yui_common.db import DbSession

from federation.keys import service
from federation.models import Agreement
from federation.problems import answered, forbidden
from federation.settings import Settings

router = APIRouter(tags=["federation keys"])
CONTRACTOR_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only the contractor may see or rotate the federation keys (the refusal is audited)"}
}
CONTRACTOR = "contractor"
# The federation keys sign for every network of the deployment: only the contractor who runs it may rotate them
# (as identity's token keys, issue 14, finding 1).
KEYS_REFUSED = "Only the contractor may rotate the federation keys of the deployment."


class NetworkRead(BaseModel):
    tenant: str
    source: str
    name: str | None = None


class FederationDocument(BaseModel):
    """What a peer reads: the keys that may sign this deployment's messages and the networks it hosts."""

    keys: list[dict[str, str]]
    networks: list[NetworkRead]
    transactions: str
    feed: str


class KeyRead(BaseModel):
    kid: str
    state: str
    created_at: datetime
    activate_at: datetime | None
    activated_at: datetime | None
    retiring_since: datetime | None
    removed_at: datetime | None


class RotationCreate(BaseModel):
    # Seconds the new key is published before it signs; the setting (key_publish_ahead_s) by default.
    publish_ahead_s: float | None = Field(default=None, ge=0, le=7 * 86400)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def hosted_networks(session: Any, settings: Settings) -> list[NetworkRead]:
    """The networks this deployment hosts as far as federation knows: identity's networks (the projection every
    service keeps) that are active, and any network holding an agreement (the demo seed's are not announced)."""
    rows = await session.execute(
        sa.text(
            "SELECT tenant, name FROM network_states WHERE status = 'active' "
            "AND tenant NOT IN (SELECT slug FROM ended_networks)"
        )
    )
    named = {row.tenant: row.name for row in rows}
    for tenant in await session.scalars(sa.select(Agreement.tenant).distinct()):
        named.setdefault(tenant, None)
    return [
        NetworkRead(tenant=tenant, source=settings.network_source(tenant), name=name)
        for tenant, name in sorted(named.items())
    ]


@router.get(
    "/.well-known/yui-federation", response_model=FederationDocument, summary="Federation keys and networks"
)
async def federation_document(request: Request, session: DbSession) -> FederationDocument:
    """Public: peers verify this deployment's messages with these keys (no personal data here)."""
    settings = _settings(request)
    base = settings.federation_base_url
    return FederationDocument(
        keys=await service.published_jwks(session, settings),
        networks=await hosted_networks(session, settings),
        transactions=f"{base}/federation/v1/transactions",
        feed=f"{base}/federation/v1/feed",
    )


async def _refuse(session: DbSession, principal: Principal, action: str) -> None:
    await audit.record_by(
        session, principal, action=f"federation.key.{action}-refused", detail={"reason": "not-contractor"}
    )


def _read(key: Any) -> KeyRead:
    return KeyRead(
        kid=key.kid,
        state=key.state,
        created_at=key.created_at,
        activate_at=key.activate_at,
        activated_at=key.activated_at,
        retiring_since=key.retiring_since,
        removed_at=key.removed_at,
    )


@router.get(
    "/keys",
    response_model=list[KeyRead],
    summary="The deployment's federation keys (contractor)",
    responses=CONTRACTOR_ONLY,
)
async def list_keys(
    request: Request, session: DbSession, principal: CurrentPrincipal
) -> list[KeyRead] | JSONResponse:
    if not principal.has_role(CONTRACTOR):
        await _refuse(session, principal, "list")
        return answered(request, forbidden(KEYS_REFUSED))
    settings = _settings(request)
    await service.active_key(session, settings)
    await audit.record_by(session, principal, action="federation.key.listed")
    return [_read(k) for k in await service.key_states(session)]


@router.post(
    "/keys/rotation",
    response_model=KeyRead,
    status_code=201,
    summary="Rotate the federation key (contractor)",
    responses=CONTRACTOR_ONLY,
)
async def rotate_key(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    rotation: Annotated[RotationCreate, Body()] = RotationCreate(),
) -> KeyRead | JSONResponse:
    """Publishes a new key now; it signs once `publish_ahead_s` has passed, and the key it replaces keeps
    verifying for the retry window (key_retry_window_s)."""
    if not principal.has_role(CONTRACTOR):
        await _refuse(session, principal, "rotation")
        return answered(request, forbidden(KEYS_REFUSED))
    key = await service.rotate(session, _settings(request), publish_ahead_s=rotation.publish_ahead_s)
    await audit.record_by(
        session,
        principal,
        action="federation.key.rotated",
        target=f"kid:{key.kid}",
        detail={"activate_at": key.activate_at},
    )
    return _read(key)
