"""Queries of attachments: uploads waiting for a post, attached files, lookups by id."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from timeline.models import (
    Attachment,
)


async def attachments_of_posts(session: AsyncSession, *, post_ids: Sequence[UUID]) -> Sequence[Attachment]:
    if not post_ids:
        return []
    stmt = select(Attachment).where(Attachment.post_id.in_(post_ids)).order_by(Attachment.created_at)
    return (await session.execute(stmt)).scalars().all()


async def pending_attachments(
    session: AsyncSession,
    *,
    attachment_ids: Sequence[UUID],
    uploaded_by: UUID,
    subject_id: UUID | None,
    group_id: UUID | None,
) -> Sequence[Attachment]:
    """Uploads of this user on this board not yet attached to a post."""
    stmt = select(Attachment).where(
        Attachment.id.in_(attachment_ids),
        Attachment.uploaded_by == uploaded_by,
        Attachment.post_id.is_(None),
        Attachment.subject_id == subject_id if subject_id is not None else Attachment.group_id == group_id,
    )
    return (await session.execute(stmt.with_for_update())).scalars().all()


async def attachment_by_id(session: AsyncSession, *, tenant: str, attachment_id: UUID) -> Attachment | None:
    stmt = select(Attachment).where(Attachment.id == attachment_id, Attachment.tenant == tenant)
    return (await session.execute(stmt)).scalar_one_or_none()


async def attachments_by_ids(
    session: AsyncSession, *, attachment_ids: Sequence[UUID]
) -> Sequence[Attachment]:
    if not attachment_ids:
        return []
    return (
        (await session.execute(select(Attachment).where(Attachment.id.in_(attachment_ids)))).scalars().all()
    )


async def attach(session: AsyncSession, *, attachment_ids: Sequence[UUID], post_id: UUID) -> None:
    await session.execute(update(Attachment).where(Attachment.id.in_(attachment_ids)).values(post_id=post_id))


async def referenced_keys(session: AsyncSession, *, keys: Sequence[str]) -> set[str]:
    """Those of keys an attachment row names as its object or its thumbnail."""
    if not keys:
        return set()
    stmt = select(Attachment.object_key, Attachment.thumbnail_key).where(
        or_(Attachment.object_key.in_(keys), Attachment.thumbnail_key.in_(keys))
    )
    return {key for row in (await session.execute(stmt)).all() for key in row if key} & set(keys)
