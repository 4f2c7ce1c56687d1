"""Every query about suspensions. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Suspension


async def suspensions(session: AsyncSession, *, tenant: str, open_only: bool = False) -> Sequence[Suspension]:
    stmt = select(Suspension).where(Suspension.tenant == tenant)
    if open_only:
        stmt = stmt.where(Suspension.lifted_at.is_(None))
    return (await session.execute(stmt.order_by(Suspension.created_at.desc()))).scalars().all()


async def open_suspensions_of(
    session: AsyncSession, *, target_kind: str, target_id: UUID
) -> Sequence[Suspension]:
    stmt = select(Suspension).where(
        Suspension.target_kind == target_kind,
        Suspension.target_id == target_id,
        Suspension.lifted_at.is_(None),
    )
    return (await session.execute(stmt)).scalars().all()
