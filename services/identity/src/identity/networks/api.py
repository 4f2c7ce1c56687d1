"""The network's own settings (retention, support hours, withdrawal mode, password and session rules)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from yui_common.db import DbSession
from yui_common.problems import Problem

from identity.auth import NetworkManagerPrincipal, OperatorPrincipal
from identity.networks import service
from identity.networks.schemas import NetworkRead, NetworkSettings
from identity.problems import answered

router = APIRouter(prefix="/network", tags=["network"])


@router.get("", response_model=NetworkRead)
async def get_network(principal: NetworkManagerPrincipal, session: DbSession) -> NetworkRead:
    return NetworkRead.model_validate(await service.network_settings(session, principal=principal))


@router.patch(
    "",
    response_model=NetworkRead,
    responses={409: {"description": "Password-only sign-in asked for on a network not created as a demo"}},
)
async def update_network(
    body: NetworkSettings, request: Request, principal: OperatorPrincipal, session: DbSession
) -> NetworkRead | JSONResponse:
    outcome = await service.update_network_settings(session, principal=principal, changes=body)
    if isinstance(outcome, Problem):
        return answered(request, outcome)
    return NetworkRead.model_validate(outcome)
