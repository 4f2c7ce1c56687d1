"""Staff accounts: create (one by one or from CSV), change, reissue, replace, disable, unlock."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from identity import service
from identity.schemas import ImportReport, IssuedUser, LoginId, UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


class Replacement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    new_login_id: LoginId
    reason: str = Field(min_length=1, max_length=2000)


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
    summary="Create users from CSV: login_id,display_name,roles,occupation",
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
    user_id: UUID, body: Replacement, principal: CurrentPrincipal, session: DbSession
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
