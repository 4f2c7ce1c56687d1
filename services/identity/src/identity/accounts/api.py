"""Staff accounts: first-login enrolment, one's own password; create (one by one or from CSV), change,
reissue, replace, disable, unlock."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse
from yui_common.auth import CurrentPrincipal, presented_certificate_fingerprint
from yui_common.db import DbSession
from yui_common.problems import Problem

from identity.accounts import service
from identity.accounts.authentication import source_address_of
from identity.accounts.schemas import (
    ImportReport,
    IssuedUser,
    PasswordChange,
    Replacement,
    TotpEnrolment,
    TotpEnrolmentStart,
    UserCreate,
    UserRead,
    UserUpdate,
)
from identity.auth import OperatorPrincipal
from identity.problems import CREDENTIAL_PROBLEMS, answered

router = APIRouter(prefix="/users", tags=["users"])
# First login and one's own password sit beside signing in, under /auth.
credentials_router = APIRouter(prefix="/auth", tags=["auth"])


@credentials_router.post(
    "/totp-enrolment",
    response_model=TotpEnrolment,
    responses=CREDENTIAL_PROBLEMS,
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
        source_address=source_address_of(request),
    )
    return answered(request, outcome) if isinstance(outcome, Problem) else outcome


@credentials_router.post(
    "/password", status_code=204, responses=CREDENTIAL_PROBLEMS, summary="Choose one's own password"
)
async def change_password(body: PasswordChange, request: Request, session: DbSession) -> Response:
    problem = await service.change_password(
        session,
        settings=request.app.state.settings,
        tenant=body.tenant,
        login_id=body.login_id,
        current_password=body.current_password,
        new_password=body.new_password,
        totp_code=body.totp_code,
        cert_fingerprint=presented_certificate_fingerprint(request),
        source_address=source_address_of(request),
    )
    return answered(request, problem) if problem else Response(status_code=204)


@router.get("", response_model=list[UserRead])
async def list_users(
    principal: CurrentPrincipal, session: DbSession, facility_id: UUID | None = None
) -> list[UserRead]:
    return [
        service.user_read(u)
        for u in await service.list_users(session, principal=principal, facility_id=facility_id)
    ]


@router.post("", status_code=201, response_model=IssuedUser)
async def create_user(body: UserCreate, principal: CurrentPrincipal, session: DbSession) -> IssuedUser:
    user, password = await service.create_user(session, principal=principal, data=body)
    return IssuedUser(user=service.user_read(user), initial_password=password)


@router.post(
    "/import",
    response_model=ImportReport,
    summary="Create users from CSV: login_id,display_name,roles[,name_kana,profession]",
)
async def import_users(
    principal: CurrentPrincipal,
    session: DbSession,
    csv_text: str = Body(..., media_type="text/csv", max_length=1_000_000),
    facility_id: UUID | None = None,
) -> ImportReport:
    return await service.import_users(
        session, principal=principal, csv_text=csv_text, facility_id=facility_id
    )


@router.get("/{user_id}", response_model=UserRead)
async def get_user(user_id: UUID, principal: CurrentPrincipal, session: DbSession) -> UserRead:
    return service.user_read(await service.get_user(session, principal=principal, user_id=user_id))


@router.patch("/{user_id}", response_model=UserRead)
async def update_user(
    user_id: UUID, body: UserUpdate, principal: CurrentPrincipal, session: DbSession
) -> UserRead:
    return service.user_read(
        await service.update_user(session, principal=principal, user_id=user_id, changes=body)
    )


@router.post("/{user_id}/password-reissue", response_model=IssuedUser)
async def reissue_password(user_id: UUID, principal: CurrentPrincipal, session: DbSession) -> IssuedUser:
    user, password = await service.reissue_password(session, principal=principal, user_id=user_id)
    return IssuedUser(user=service.user_read(user), initial_password=password)


@router.post(
    "/{user_id}/replacement",
    status_code=201,
    response_model=IssuedUser,
    summary="The operator suspends the old id and issues a new one",
)
async def replace_user(
    user_id: UUID, body: Replacement, principal: OperatorPrincipal, session: DbSession
) -> IssuedUser:
    user, password = await service.replace_user(
        session, principal=principal, user_id=user_id, new_login_id=body.new_login_id, reason=body.reason
    )
    return IssuedUser(user=service.user_read(user), initial_password=password)


@router.post("/{user_id}/disabling", response_model=UserRead, summary="The person left: the account ends")
async def disable_user(user_id: UUID, principal: CurrentPrincipal, session: DbSession) -> UserRead:
    return service.user_read(await service.disable_user(session, principal=principal, user_id=user_id))


@router.post("/{user_id}/unlock", response_model=UserRead)
async def unlock_user(user_id: UUID, principal: CurrentPrincipal, session: DbSession) -> UserRead:
    return service.user_read(await service.unlock_user(session, principal=principal, user_id=user_id))
