"""Queries of support requests (T2): the requests addressed to me or my facility, or those I sent."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from timeline.models import (
    Post,
)


async def support_requests_for(
    session: AsyncSession, *, tenant: str, user_id: UUID, facility_id: UUID | None, sent: bool
) -> Sequence[Post]:
    stmt = select(Post).where(
        Post.tenant == tenant,
        Post.request_status.is_not(None),
        Post.deleted_at.is_(None),
        Post.support_stopped_at.is_(None),
    )
    if sent:
        stmt = stmt.where(Post.author_id == user_id)
    else:
        addressed = Post.addressed_user_id == user_id
        if facility_id is not None:
            addressed = or_(addressed, Post.addressed_facility_id == facility_id)
        stmt = stmt.where(addressed)
    return (await session.execute(stmt.order_by(Post.created_at.desc()).limit(200))).scalars().all()
