"""Every query about facilities. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Facility


async def facilities(session: AsyncSession, *, tenant: str, status: str | None = None) -> Sequence[Facility]:
    stmt = select(Facility).where(Facility.tenant == tenant)
    if status:
        stmt = stmt.where(Facility.status == status)
    return (
        (await session.execute(stmt.order_by(Facility.applied_at.nulls_first(), Facility.name)))
        .scalars()
        .all()
    )
