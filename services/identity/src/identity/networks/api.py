"""The network's own settings (retention, support hours, withdrawal mode, password and session rules)."""

from __future__ import annotations

from fastapi import APIRouter
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from identity.networks import service
from identity.networks.schemas import NetworkRead, NetworkSettings

router = APIRouter(prefix="/network", tags=["network"])


@router.get("", response_model=NetworkRead)
async def get_network(principal: CurrentPrincipal, session: DbSession) -> NetworkRead:
    return NetworkRead.model_validate(await service.network_settings(session, principal=principal))


@router.patch("", response_model=NetworkRead)
async def update_network(
    body: NetworkSettings, principal: CurrentPrincipal, session: DbSession
) -> NetworkRead:
    return NetworkRead.model_validate(
        await service.update_network_settings(session, principal=principal, changes=body)
    )
