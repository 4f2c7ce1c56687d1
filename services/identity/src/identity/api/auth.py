"""Login with two factors, sessions' token refresh and logout, the current user, and the JWKS and its keys."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from yui_common.auth import CurrentPrincipal, presented_certificate_fingerprint
from yui_common.db import DbSession
from yui_common.problems import Problem, problem_response

from identity import service, tokens
from identity.schemas import (
    Login,
    Me,
    PasswordChange,
    Refresh,
    SessionTokens,
    TotpEnrolment,
    TotpEnrolmentStart,
)

router = APIRouter(tags=["auth"])
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Login failed (one answer for every reason)"},
    403: {"description": "An initial password must be changed first"},
}


def answer(request: Request, problem: Problem) -> JSONResponse:
    # Answered, not raised: the request's transaction must commit the attempt's audit entry and counters
    # (S2, i11).
    return problem_response(
        request, problem.status, problem.slug, problem.title, problem.detail, **problem.extensions
    )


@router.get("/.well-known/jwks.json", summary="Public keys of access tokens")
async def jwks(session: DbSession) -> dict[str, Any]:
    return await tokens.jwks(session)


@router.post(
    "/auth/token",
    response_model=SessionTokens,
    responses=PROBLEMS,
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
        user_agent=request.headers.get("user-agent"),
    )
    return answer(request, outcome) if isinstance(outcome, Problem) else outcome


@router.post("/auth/refresh", response_model=SessionTokens, responses={401: {"description": "Session ended"}})
async def refresh(body: Refresh, request: Request, session: DbSession) -> SessionTokens | JSONResponse:
    outcome = await service.refresh(
        session, settings=request.app.state.settings, refresh_token=body.refresh_token
    )
    return answer(request, outcome) if isinstance(outcome, Problem) else outcome


@router.post("/auth/logout", status_code=204, summary="End the current session")
async def logout(principal: CurrentPrincipal, session: DbSession) -> Response:
    if principal.session_id:
        await service.end_own_session(
            session, principal=principal, session_id=UUID(principal.session_id), reason="logout"
        )
    return Response(status_code=204)


@router.post(
    "/auth/totp-enrolment",
    response_model=TotpEnrolment,
    responses=PROBLEMS,
    summary="First login: a TOTP secret and provisioning URI (with the initial password)",
)
async def start_totp_enrolment(
    body: TotpEnrolmentStart, request: Request, session: DbSession
) -> TotpEnrolment | JSONResponse:
    outcome = await service.start_totp_enrolment(
        session,
        settings=request.app.state.settings,
        tenant=body.tenant,
        login_id=body.login_id,
        password=body.password,
    )
    return answer(request, outcome) if isinstance(outcome, Problem) else outcome


@router.post("/auth/password", status_code=204, responses=PROBLEMS, summary="Choose one's own password")
async def change_password(body: PasswordChange, request: Request, session: DbSession) -> Response:
    problem = await service.change_password(
        session,
        tenant=body.tenant,
        login_id=body.login_id,
        current_password=body.current_password,
        new_password=body.new_password,
        totp_code=body.totp_code,
        cert_fingerprint=presented_certificate_fingerprint(request),
    )
    return answer(request, problem) if problem else Response(status_code=204)


@router.get("/me", response_model=Me)
async def me(principal: CurrentPrincipal) -> Me:
    return Me(
        user_id=principal.user_id,
        tenant=principal.tenant,
        facility_id=principal.facility_id,
        roles=sorted(principal.roles),
        name=principal.name,
    )


@router.post("/signing-keys/rotation", status_code=201, summary="A new token-signing key signs from now on")
async def rotate_signing_key(principal: CurrentPrincipal, session: DbSession) -> dict[str, str]:
    return {"kid": await service.rotate_signing_key(session, principal=principal)}


@router.post("/signing-keys/{kid}/retirement", status_code=204, summary="An old key no longer verifies")
async def retire_signing_key(
    kid: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")], principal: CurrentPrincipal, session: DbSession
) -> Response:
    await service.retire_signing_key(session, principal=principal, kid=kid)
    return Response(status_code=204)
