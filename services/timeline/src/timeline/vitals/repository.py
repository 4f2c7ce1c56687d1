"""Vitals entries as the chart and the exports read them: an entry shows while its post does (not deleted)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from timeline.models import Post, Vitals


async def shown_vitals(
    session: AsyncSession, *, tenant: str, subject_id: UUID | None = None, since: datetime | None = None
) -> Sequence[Vitals]:
    """A subject's (or, without one, a whole network's) entries whose post is not deleted, oldest first."""
    statement = (
        sa.select(Vitals)
        .join(Post, Post.id == Vitals.post_id)
        .where(Vitals.tenant == tenant, Post.deleted_at.is_(None))
        .order_by(Vitals.measured_at, Vitals.post_id)
    )
    if subject_id is not None:
        statement = statement.where(Vitals.subject_id == subject_id)
    if since is not None:
        statement = statement.where(Vitals.measured_at >= since)
    return (await session.execute(statement)).scalars().all()
