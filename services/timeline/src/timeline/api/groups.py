"""Groups (T6): boards not tied to a subject, members by invitation, the same posting features."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from timeline import service
from timeline.api.dependencies import Signer
from timeline.api.rendering import post_page, post_read
from timeline.schemas import (
    GroupCreate,
    GroupInvitation,
    GroupMemberRead,
    GroupRead,
    PostCreate,
    PostPage,
    PostRead,
)

router = APIRouter(prefix="/groups", tags=["groups"])
RESPONSES: dict[int | str, dict[str, Any]] = {404: {"description": "No such group, or not a member"}}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=GroupRead)
async def create_group(body: GroupCreate, session: DbSession, principal: CurrentPrincipal) -> GroupRead:
    group = await service.create_group(
        session, principal=principal, name=body.name, purpose=body.purpose, description=body.description
    )
    return GroupRead.model_validate(group).model_copy(update={"my_status": "member"})


@router.get("", response_model=list[GroupRead])
async def my_groups(session: DbSession, principal: CurrentPrincipal) -> list[GroupRead]:
    """Groups I belong to and those I am invited to (my_status says which)."""
    return [
        GroupRead.model_validate(g).model_copy(update={"my_status": s})
        for g, s in await service.my_groups(session, principal=principal)
    ]


@router.get("/{group_id}", response_model=GroupRead, responses=RESPONSES)
async def get_group(group_id: UUID, session: DbSession, principal: CurrentPrincipal) -> GroupRead:
    group, my_status = await service.get_group(session, principal=principal, group_id=group_id)
    return GroupRead.model_validate(group).model_copy(update={"my_status": my_status})


@router.get("/{group_id}/members", response_model=list[GroupMemberRead], responses=RESPONSES)
async def members(group_id: UUID, session: DbSession, principal: CurrentPrincipal) -> list[GroupMemberRead]:
    return [
        GroupMemberRead.model_validate(m)
        for m in await service.group_members(session, principal=principal, group_id=group_id)
    ]


@router.post("/{group_id}/invitations", status_code=status.HTTP_204_NO_CONTENT, responses=RESPONSES)
async def invite(
    group_id: UUID, body: GroupInvitation, session: DbSession, principal: CurrentPrincipal
) -> None:
    await service.invite_to_group(session, principal=principal, group_id=group_id, user_id=body.user_id)


@router.post("/{group_id}/invitations/accept", status_code=status.HTTP_204_NO_CONTENT, responses=RESPONSES)
async def accept(group_id: UUID, session: DbSession, principal: CurrentPrincipal) -> None:
    await service.accept_invitation(session, principal=principal, group_id=group_id)


@router.delete("/{group_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=RESPONSES)
async def remove_member(
    group_id: UUID, user_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> None:
    """Leave (or decline an invitation) with your own id; the creator may remove others."""
    await service.leave_group(session, principal=principal, group_id=group_id, user_id=user_id)


@router.post(
    "/{group_id}/posts", status_code=status.HTTP_201_CREATED, response_model=PostRead, responses=RESPONSES
)
async def create_group_post(
    group_id: UUID, body: PostCreate, session: DbSession, principal: CurrentPrincipal, signer: Signer
) -> PostRead:
    post = await service.create_post(
        session,
        principal=principal,
        signer=signer,
        board=service.Board(principal.tenant, group_id=group_id),
        category=body.category,
        body=body.body,
        mentions=body.mentions,
        attachment_ids=body.attachment_ids,
        addressed_user_id=body.support_request.addressed_user_id if body.support_request else None,
        addressed_facility_id=body.support_request.addressed_facility_id if body.support_request else None,
    )
    [view] = await service.views_of(session, principal, [post])
    return post_read(view)


@router.get("/{group_id}/posts", response_model=PostPage, responses=RESPONSES)
async def list_group_posts(
    group_id: UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    views, next_cursor = await service.list_posts(
        session,
        principal=principal,
        board=service.Board(principal.tenant, group_id=group_id),
        limit=limit,
        cursor=cursor,
    )
    return post_page(views, next_cursor)
