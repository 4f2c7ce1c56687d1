"""Queries of exceptional-access requests and grants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consent.models import ExceptionalAccess


async def active_grant(
    session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID, now: datetime
) -> ExceptionalAccess | None:
    stmt = (
        select(ExceptionalAccess)
        .where(
            ExceptionalAccess.tenant == tenant,
            ExceptionalAccess.subject_id == subject_id,
            ExceptionalAccess.user_id == user_id,
            ExceptionalAccess.status == "approved",
            ExceptionalAccess.expires_at > now,
        )
        .order_by(ExceptionalAccess.expires_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def exceptional_access_requests(
    session: AsyncSession, *, tenant: str, status: str | None
) -> Sequence[ExceptionalAccess]:
    stmt = select(ExceptionalAccess).where(ExceptionalAccess.tenant == tenant)
    if status:
        stmt = stmt.where(ExceptionalAccess.status == status)
    return (
        (await session.execute(stmt.order_by(ExceptionalAccess.requested_at.desc()).limit(500)))
        .scalars()
        .all()
    )


async def grants_of_user(session: AsyncSession, *, tenant: str, user_id: UUID) -> Sequence[ExceptionalAccess]:
    stmt = (
        select(ExceptionalAccess)
        .where(ExceptionalAccess.tenant == tenant, ExceptionalAccess.user_id == user_id)
        .order_by(ExceptionalAccess.requested_at.desc())
        .limit(200)
    )
    return (await session.execute(stmt)).scalars().all()


async def exceptional_access_for_update(
    session: AsyncSession, *, tenant: str, grant_id: UUID
) -> ExceptionalAccess | None:
    stmt = (
        select(ExceptionalAccess)
        .where(ExceptionalAccess.id == grant_id, ExceptionalAccess.tenant == tenant)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def due_grants(
    session: AsyncSession, *, now: datetime, limit: int = 200
) -> Sequence[ExceptionalAccess]:
    """Approved grants past their end; SKIP LOCKED lets several worker replicas expire them side by side."""
    stmt = (
        select(ExceptionalAccess)
        .where(ExceptionalAccess.status == "approved", ExceptionalAccess.expires_at <= now)
        .order_by(ExceptionalAccess.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()
