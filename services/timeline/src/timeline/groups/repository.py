"""Queries of groups and their members."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Result, delete, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from timeline.models import (
    Group,
    GroupMember,
)


async def group_membership(
    session: AsyncSession, *, tenant: str, group_id: UUID, user_id: UUID
) -> tuple[Group, GroupMember] | None:
    stmt = (
        select(Group, GroupMember)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(Group.id == group_id, Group.tenant == tenant, GroupMember.user_id == user_id)
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def group_members_among(
    session: AsyncSession, *, group_id: UUID, user_ids: Sequence[UUID]
) -> set[UUID]:
    stmt = select(GroupMember.user_id).where(
        GroupMember.group_id == group_id, GroupMember.user_id.in_(user_ids), GroupMember.status == "member"
    )
    return set((await session.execute(stmt)).scalars())


async def member_ids(session: AsyncSession, *, group_id: UUID) -> list[UUID]:
    stmt = select(GroupMember.user_id).where(GroupMember.group_id == group_id, GroupMember.status == "member")
    return list((await session.execute(stmt)).scalars())


async def my_groups(session: AsyncSession, *, tenant: str, user_id: UUID) -> Sequence[tuple[Group, str]]:
    stmt = (
        select(Group, GroupMember.status)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(Group.tenant == tenant, GroupMember.user_id == user_id)
        .order_by(Group.created_at.desc())
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def my_group_ids(session: AsyncSession, *, tenant: str, user_id: UUID) -> list[UUID]:
    stmt = (
        select(Group.id)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(Group.tenant == tenant, GroupMember.user_id == user_id, GroupMember.status == "member")
    )
    return list((await session.execute(stmt)).scalars())


async def group_members(session: AsyncSession, *, group_id: UUID) -> Sequence[GroupMember]:
    stmt = select(GroupMember).where(GroupMember.group_id == group_id).order_by(GroupMember.invited_at)
    return (await session.execute(stmt)).scalars().all()


async def invite(session: AsyncSession, *, group_id: UUID, user_id: UUID, invited_by: UUID) -> bool:
    stmt = insert(GroupMember).values(
        group_id=group_id, user_id=user_id, status="invited", invited_by=invited_by
    )
    result: Result[Any] = await session.execute(stmt.on_conflict_do_nothing().returning(literal_column("1")))
    return result.first() is not None


async def remove_group_member(session: AsyncSession, *, group_id: UUID, user_id: UUID) -> bool:
    result = await session.execute(
        delete(GroupMember).where(GroupMember.group_id == group_id, GroupMember.user_id == user_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
