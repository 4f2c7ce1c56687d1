"""Each user's notification preferences, and the network's defaults the operator sets (n4)."""

from __future__ import annotations

from fastapi import APIRouter
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from notify import service
from notify.schemas import NetworkDefaultsRead, NetworkDefaultsUpdate, PreferencesRead, PreferencesUpdate

router = APIRouter(prefix="/notifications", tags=["preferences"])


@router.get("/preferences", response_model=PreferencesRead)
async def my_preferences(session: DbSession, principal: CurrentPrincipal) -> PreferencesRead:
    return PreferencesRead.model_validate(await service.effective_preferences(session, principal=principal))


@router.put("/preferences", response_model=PreferencesRead)
async def update_my_preferences(
    body: PreferencesUpdate, session: DbSession, principal: CurrentPrincipal
) -> PreferencesRead:
    await service.update_preferences(
        session, principal=principal, email=body.email, channels=body.channels, digest_hour=body.digest_hour
    )
    return PreferencesRead.model_validate(await service.effective_preferences(session, principal=principal))


@router.get("/network-defaults", response_model=NetworkDefaultsRead)
async def network_defaults(session: DbSession, principal: CurrentPrincipal) -> NetworkDefaultsRead:
    return NetworkDefaultsRead.model_validate(await service.network_defaults(session, principal=principal))


@router.put(
    "/network-defaults",
    response_model=NetworkDefaultsRead,
    responses={403: {"description": "Not an operator"}},
)
async def update_network_defaults(
    body: NetworkDefaultsUpdate, session: DbSession, principal: CurrentPrincipal
) -> NetworkDefaultsRead:
    await service.update_network_defaults(
        session,
        principal=principal,
        channels=body.channels,
        digest_hour=body.digest_hour,
        retention_days=body.retention_days,
    )
    return NetworkDefaultsRead.model_validate(await service.network_defaults(session, principal=principal))
