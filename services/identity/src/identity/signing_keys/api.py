"""The JWKS of access tokens, and the operators' key rotation and retirement."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from identity import tokens
from identity.signing_keys import service

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json", summary="Public keys of access tokens")
async def jwks(session: DbSession) -> dict[str, Any]:
    return await tokens.jwks(session)


@router.post("/signing-keys/rotation", status_code=201, summary="A new token-signing key signs from now on")
async def rotate_signing_key(principal: CurrentPrincipal, session: DbSession) -> dict[str, str]:
    return {"kid": await service.rotate_signing_key(session, principal=principal)}


@router.post("/signing-keys/{kid}/retirement", status_code=204, summary="An old key no longer verifies")
async def retire_signing_key(
    kid: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")], principal: CurrentPrincipal, session: DbSession
) -> Response:
    await service.retire_signing_key(session, principal=principal, kid=kid)
    return Response(status_code=204)
