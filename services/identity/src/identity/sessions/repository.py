"""Every query about login sessions. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import LoginSession


async def session_by_refresh_hash(session: AsyncSession, *, refresh_token_hash: str) -> LoginSession | None:
    stmt = select(LoginSession).where(LoginSession.refresh_token_hash == refresh_token_hash).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def sessions_of_user(session: AsyncSession, *, tenant: str, user_id: UUID) -> Sequence[LoginSession]:
    stmt = (
        select(LoginSession)
        .where(LoginSession.tenant == tenant, LoginSession.user_id == user_id)
        .order_by(LoginSession.created_at.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def open_sessions_of_user(session: AsyncSession, *, user_id: UUID) -> Sequence[LoginSession]:
    stmt = select(LoginSession).where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None))
    return (await session.execute(stmt.with_for_update())).scalars().all()
