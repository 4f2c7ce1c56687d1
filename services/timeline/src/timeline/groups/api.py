"""Groups' routes (T6): creating groups, invitations and members; posts on a group are the posts' routes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from timeline.dependencies import group_board
from timeline.groups import service
from timeline.groups.schemas import GroupCreate, GroupInvitation, GroupMemberRead, GroupRead
from timeline.people import people_of, person_or_unknown
from timeline.posts import pages
from timeline.posts.api import add_board_routes

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
    found = await service.group_members(session, principal=principal, group_id=group_id)
    people = await people_of(
        session, tenant=principal.tenant, user_ids=[u for m in found for u in (m.user_id, m.invited_by)]
    )
    return [
        GroupMemberRead.model_validate(m).model_copy(
            update={
                "member": person_or_unknown(people, m.user_id),
                "invited_by_person": person_or_unknown(people, m.invited_by) if m.invited_by else None,
            }
        )
        for m in found
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


add_board_routes(
    router,
    path="/{group_id}",
    board=group_board,
    reached=pages.reached_group_board,
    responses=RESPONSES,
    create_name="create_group_post",
    list_name="list_group_posts",
)
