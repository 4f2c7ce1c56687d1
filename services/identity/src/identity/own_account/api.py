"""One's own account: profile, password and authenticator of the signed-in user (issue 10, I4)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession
from yui_common.problems import Problem

from identity.accounts.authentication import source_address_of
from identity.accounts.schemas import TotpEnrolment
from identity.own_account import service
from identity.own_account.schemas import (
    AuthenticatorConfirmation,
    AuthenticatorEnrolmentStart,
    OwnPasswordChange,
    Profile,
    ProfileUpdate,
)
from identity.problems import answered

router = APIRouter(prefix="/me", tags=["own account"])
CURRENT_PASSWORD_PROBLEMS: dict[int | str, dict[str, object]] = {
    401: {"description": "The current password is wrong (one answer, counted like a failed sign-in)"}
}


@router.get("/profile", response_model=Profile)
async def get_profile(principal: CurrentPrincipal, session: DbSession) -> Profile:
    return await service.profile(session, principal=principal)


@router.patch("/profile", response_model=Profile, summary="Change one's own name and kana")
async def change_profile(body: ProfileUpdate, principal: CurrentPrincipal, session: DbSession) -> Profile:
    return await service.change_profile(session, principal=principal, changes=body)


@router.post(
    "/password",
    status_code=204,
    responses=CURRENT_PASSWORD_PROBLEMS,
    summary="Change one's own password; the user's other sessions end",
)
async def change_password(
    body: OwnPasswordChange, request: Request, principal: CurrentPrincipal, session: DbSession
) -> Response:
    problem = await service.change_own_password(
        session,
        settings=request.app.state.settings,
        principal=principal,
        current_password=body.current_password,
        new_password=body.new_password,
        source_address=source_address_of(request),
    )
    return answered(request, problem) if problem else Response(status_code=204)


@router.post(
    "/totp-enrolment",
    response_model=TotpEnrolment,
    responses={
        **CURRENT_PASSWORD_PROBLEMS,
        409: {"description": "The network signs in with client certificates, not authenticator apps"},
    },
    summary="Enrol a (new) authenticator: its secret and otpauth:// URI, pending until confirmed",
)
async def start_authenticator_enrolment(
    body: AuthenticatorEnrolmentStart, request: Request, principal: CurrentPrincipal, session: DbSession
) -> TotpEnrolment | JSONResponse:
    outcome = await service.start_authenticator_enrolment(
        session,
        settings=request.app.state.settings,
        principal=principal,
        current_password=body.current_password,
        source_address=source_address_of(request),
    )
    return answered(request, outcome) if isinstance(outcome, Problem) else outcome


@router.post(
    "/totp-enrolment/confirmation",
    status_code=204,
    responses={409: {"description": "No authenticator is being enrolled: start the enrolment first"}},
    summary="The new authenticator's first code: sign-in asks for its codes from now on",
)
async def confirm_authenticator(
    body: AuthenticatorConfirmation, principal: CurrentPrincipal, session: DbSession
) -> Response:
    await service.confirm_authenticator(session, principal=principal, code=body.code)
    return Response(status_code=204)
