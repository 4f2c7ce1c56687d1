"""Queries of care-team members and invitations."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from consent.models import CareTeamInvitation, CareTeamMember


async def add_care_team_member(session: AsyncSession, member: CareTeamMember) -> bool:
    stmt = (
        insert(CareTeamMember)
        .values(
            subject_id=member.subject_id,
            user_id=member.user_id,
            facility_id=member.facility_id,
            added_by=member.added_by,
        )
        .on_conflict_do_nothing()
        .returning(CareTeamMember.user_id)
    )
    return (await session.execute(stmt)).first() is not None


async def care_team_of(session: AsyncSession, *, subject_id: UUID) -> Sequence[CareTeamMember]:
    stmt = (
        select(CareTeamMember)
        .where(CareTeamMember.subject_id == subject_id)
        .order_by(CareTeamMember.added_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def care_team_member(
    session: AsyncSession, *, subject_id: UUID, user_id: UUID
) -> CareTeamMember | None:
    return await session.get(CareTeamMember, (subject_id, user_id))


async def remove_care_team_member(session: AsyncSession, *, subject_id: UUID, user_id: UUID) -> bool:
    stmt = (
        delete(CareTeamMember)
        .where(CareTeamMember.subject_id == subject_id, CareTeamMember.user_id == user_id)
        .returning(CareTeamMember.user_id)
    )
    return (await session.execute(stmt)).first() is not None


async def pending_invitation(
    session: AsyncSession, *, subject_id: UUID, user_id: UUID
) -> CareTeamInvitation | None:
    stmt = select(CareTeamInvitation).where(
        CareTeamInvitation.subject_id == subject_id,
        CareTeamInvitation.user_id == user_id,
        CareTeamInvitation.status == "pending",
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def invitation_for_invitee(
    session: AsyncSession, *, tenant: str, invitation_id: UUID, user_id: UUID
) -> CareTeamInvitation | None:
    stmt = (
        select(CareTeamInvitation)
        .where(
            CareTeamInvitation.id == invitation_id,
            CareTeamInvitation.tenant == tenant,
            CareTeamInvitation.user_id == user_id,
        )
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def invitations_for(
    session: AsyncSession, *, tenant: str, user_id: UUID
) -> Sequence[CareTeamInvitation]:
    stmt = (
        select(CareTeamInvitation)
        .where(
            CareTeamInvitation.tenant == tenant,
            CareTeamInvitation.user_id == user_id,
            CareTeamInvitation.status == "pending",
        )
        .order_by(CareTeamInvitation.invited_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def pending_invitations_of(session: AsyncSession, *, subject_id: UUID) -> Sequence[CareTeamInvitation]:
    stmt = (
        select(CareTeamInvitation)
        .where(CareTeamInvitation.subject_id == subject_id, CareTeamInvitation.status == "pending")
        .order_by(CareTeamInvitation.invited_at)
    )
    return (await session.execute(stmt)).scalars().all()
