"""Groups (T6): creating one, membership by invitation, leaving and removal. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.timeline import GroupMemberInvitedV1, GroupMemberJoinedV1, GroupMemberLeftV1
from yui_common.problems import Problem, not_found

from timeline.access.service import Board, group_board, record_audit
from timeline.groups import repository
from timeline.models import Group, GroupMember


async def create_group(
    session: AsyncSession, *, principal: Principal, name: str, purpose: str, description: str
) -> Group:
    group = Group(
        id=uuid7(),
        tenant=principal.tenant,
        name=name,
        purpose=purpose,
        description=description,
        created_by=principal.user_id,
    )
    session.add(group)
    session.add(
        GroupMember(
            group_id=group.id,
            user_id=principal.user_id,
            status="member",
            invited_by=None,
            joined_at=datetime.now(UTC),
        )
    )
    await session.flush()
    await session.refresh(group)
    await record_audit(session, principal, "group.create", Board(principal.tenant, group_id=group.id))
    return group


async def my_groups(session: AsyncSession, *, principal: Principal) -> list[tuple[Group, str]]:
    return list(await repository.my_groups(session, tenant=principal.tenant, user_id=principal.user_id))


async def get_group(session: AsyncSession, *, principal: Principal, group_id: UUID) -> tuple[Group, str]:
    membership = await repository.group_membership(
        session, tenant=principal.tenant, group_id=group_id, user_id=principal.user_id
    )
    if membership is None:
        raise not_found("group")
    return membership[0], membership[1].status


async def group_members(session: AsyncSession, *, principal: Principal, group_id: UUID) -> list[GroupMember]:
    board = await group_board(session, principal=principal, group_id=group_id)
    members = list(await repository.group_members(session, group_id=group_id))
    await record_audit(session, principal, "group.members", board)
    return members


async def invite_to_group(
    session: AsyncSession, *, principal: Principal, group_id: UUID, user_id: UUID
) -> None:
    board = await group_board(session, principal=principal, group_id=group_id)
    if await repository.invite(session, group_id=group_id, user_id=user_id, invited_by=principal.user_id):
        await outbox.add_event(
            session,
            GroupMemberInvitedV1(group_id=group_id, user_id=user_id, invited_by=principal.user_id),
            tenant=principal.tenant,
        )
    await record_audit(session, principal, "group.invite", board, user=user_id)


async def accept_invitation(session: AsyncSession, *, principal: Principal, group_id: UUID) -> None:
    membership = await repository.group_membership(
        session, tenant=principal.tenant, group_id=group_id, user_id=principal.user_id
    )
    if membership is None:
        raise not_found("invitation")
    member = membership[1]
    if member.status == "invited":
        member.status = "member"
        member.joined_at = datetime.now(UTC)
        await outbox.add_event(
            session,
            GroupMemberJoinedV1(group_id=group_id, user_id=principal.user_id),
            tenant=principal.tenant,
        )
        await record_audit(session, principal, "group.join", Board(principal.tenant, group_id=group_id))


async def leave_group(session: AsyncSession, *, principal: Principal, group_id: UUID, user_id: UUID) -> None:
    """A member leaves (or declines an invitation); the group's creator may also remove a member."""
    group, _ = await get_group(session, principal=principal, group_id=group_id)
    if user_id != principal.user_id and group.created_by != principal.user_id:
        raise Problem(
            403,
            "not-group-owner",
            "Only the group's creator removes others",
            "Only the group's creator can remove another member.",
        )
    if await repository.remove_group_member(session, group_id=group_id, user_id=user_id):
        await outbox.add_event(
            session, GroupMemberLeftV1(group_id=group_id, user_id=user_id), tenant=principal.tenant
        )
    await record_audit(
        session, principal, "group.leave", Board(principal.tenant, group_id=group_id), user=user_id
    )
