"""The JWKS of access tokens, and the contractor's key rotation and retirement."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from identity import tokens
from identity.problems import answered
from identity.signing_keys import service

router = APIRouter(tags=["auth"])

# Documented beside the factory's 401/403/404: who is refused, and why.
CONTRACTOR_ONLY: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Only the contractor may change the deployment's signing keys (the refusal is audited)"
    }
}


@router.get("/.well-known/jwks.json", summary="Public keys of access tokens")
async def jwks(session: DbSession) -> dict[str, Any]:
    return await tokens.jwks(session)


@router.post(
    "/signing-keys/rotation",
    status_code=201,
    summary="A new token-signing key signs from now on",
    response_model=dict[str, str],
    responses=CONTRACTOR_ONLY,
)
async def rotate_signing_key(
    request: Request, principal: CurrentPrincipal, session: DbSession
) -> dict[str, str] | JSONResponse:
    outcome = await service.rotate_signing_key(session, principal=principal)
    return {"kid": outcome} if isinstance(outcome, str) else answered(request, outcome)


@router.post(
    "/signing-keys/{kid}/retirement",
    status_code=204,
    summary="An old key no longer verifies",
    responses={**CONTRACTOR_ONLY, 409: {"description": "The key that signs now: rotate first"}},
)
async def retire_signing_key(
    kid: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")],
    request: Request,
    principal: CurrentPrincipal,
    session: DbSession,
) -> Response:
    refused = await service.retire_signing_key(session, principal=principal, kid=kid)
    return Response(status_code=204) if refused is None else answered(request, refused)
