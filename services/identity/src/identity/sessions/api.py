"""Signing in with two factors, refreshing and ending sessions, the current user; a user's own sessions (i12)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import CurrentPrincipal, presented_certificate_fingerprint
from yui_common.db import DbSession
from yui_common.problems import Problem

from identity.accounts.authentication import source_address_of
from identity.problems import CREDENTIAL_PROBLEMS, answered
from identity.revocations.api import commit_and_await_revocations
from identity.revocations.schemas import Propagation
from identity.sessions import service
from identity.sessions.schemas import Login, Me, Refresh, SessionRead, SessionTokens

router = APIRouter()


@router.post(
    "/auth/token",
    tags=["auth"],
    response_model=SessionTokens,
    responses=CREDENTIAL_PROBLEMS,
    summary="Sign in: password + second factor",
)
async def login(body: Login, request: Request, session: DbSession) -> SessionTokens | JSONResponse:
    outcome = await service.login(
        session,
        settings=request.app.state.settings,
        tenant=body.tenant,
        login_id=body.login_id,
        password=body.password,
        totp_code=body.totp_code,
        cert_fingerprint=presented_certificate_fingerprint(request),
        source_address=source_address_of(request),
        user_agent=request.headers.get("user-agent"),
    )
    return answered(request, outcome) if isinstance(outcome, Problem) else outcome


@router.post(
    "/auth/refresh",
    tags=["auth"],
    response_model=SessionTokens,
    responses={401: {"description": "Session ended"}},
)
async def refresh(body: Refresh, request: Request, session: DbSession) -> SessionTokens | JSONResponse:
    outcome = await service.refresh(
        session, settings=request.app.state.settings, refresh_token=body.refresh_token
    )
    return answered(request, outcome) if isinstance(outcome, Problem) else outcome


# An ended session's answer has no body once every service refuses its tokens; while some do not yet, 202
# says which (identity.revocations).
SESSION_ENDING_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {"model": Propagation, "description": "Ended; some services do not refuse its tokens yet"}
}


async def _after_propagation(request: Request, session: AsyncSession) -> Response:
    response = Response(status_code=204)
    propagation = await commit_and_await_revocations(request, session, response)
    if response.status_code == 202 and propagation is not None:
        return JSONResponse(propagation.model_dump(mode="json"), status_code=202)
    return response


@router.post(
    "/auth/logout",
    tags=["auth"],
    status_code=204,
    summary="End the current session",
    responses=SESSION_ENDING_ANSWERS,
)
async def logout(principal: CurrentPrincipal, session: DbSession, request: Request) -> Response:
    if principal.session_id:
        await service.end_own_session(
            session, principal=principal, session_id=UUID(principal.session_id), reason="logout"
        )
    return await _after_propagation(request, session)


@router.get("/me", tags=["auth"], response_model=Me)
async def me(principal: CurrentPrincipal) -> Me:
    return Me(
        user_id=principal.user_id,
        tenant=principal.tenant,
        facility_id=principal.facility_id,
        roles=sorted(principal.roles),
        name=principal.name,
    )


@router.get("/sessions", tags=["sessions"], response_model=list[SessionRead])
async def list_sessions(principal: CurrentPrincipal, session: DbSession) -> list[SessionRead]:
    return await service.list_sessions(session, principal=principal)


@router.delete("/sessions/{session_id}", tags=["sessions"], status_code=204, responses=SESSION_ENDING_ANSWERS)
async def end_session(
    session_id: UUID, principal: CurrentPrincipal, session: DbSession, request: Request
) -> Response:
    await service.end_own_session(session, principal=principal, session_id=session_id, reason="ended-by-user")
    return await _after_propagation(request, session)
