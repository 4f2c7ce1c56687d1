"""Summary versions as the summary, its history and the exports read them."""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from timeline.models import SummaryVersion


async def versions(
    session: AsyncSession, subject_id: UUID, *, newest_only: bool = False
) -> list[SummaryVersion]:
    """The subject's versions, newest first (the newest alone with ``newest_only``)."""
    statement = (
        sa.select(SummaryVersion)
        .where(SummaryVersion.subject_id == subject_id)
        .order_by(SummaryVersion.version.desc())
    )
    if newest_only:
        statement = statement.limit(1)
    return list((await session.execute(statement)).scalars().all())


async def newest(session: AsyncSession, subject_id: UUID) -> SummaryVersion | None:
    found = await versions(session, subject_id, newest_only=True)
    return found[0] if found else None


async def newest_of_network(session: AsyncSession, tenant: str) -> dict[UUID, SummaryVersion]:
    """Each subject's summary as it stands, for a whole network (its export): one row per subject."""
    statement = (
        sa.select(SummaryVersion)
        .where(SummaryVersion.tenant == tenant)
        .distinct(SummaryVersion.subject_id)
        .order_by(SummaryVersion.subject_id, SummaryVersion.version.desc())
    )
    return {row.subject_id: row for row in (await session.execute(statement)).scalars().all()}
