"""A user's own sessions: list them and end any of them (i12)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from identity import service
from identity.schemas import SessionRead

router = APIRouter(prefix="/sessions", tags=["sessions"])


@router.get("", response_model=list[SessionRead])
async def list_sessions(principal: CurrentPrincipal, session: DbSession) -> list[SessionRead]:
    return await service.list_sessions(session, principal=principal)


@router.delete("/{session_id}", status_code=204)
async def end_session(session_id: UUID, principal: CurrentPrincipal, session: DbSession) -> Response:
    await service.end_own_session(session, principal=principal, session_id=session_id, reason="ended-by-user")
    return Response(status_code=204)
