"""Queries that stop or remove posts: the withdrawal's stop, erasure by retention or by the operator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from timeline.models import (
    Attachment,
    Post,
    PostVersion,
    ReadMark,
)


async def stop_posts(session: AsyncSession, *, subject_id: UUID, at: datetime) -> int:
    result = await session.execute(
        update(Post)
        .where(Post.subject_id == subject_id, Post.support_stopped_at.is_(None))
        .values(support_stopped_at=at)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def posts_to_erase(
    session: AsyncSession,
    *,
    tenant: str,
    subject_id: UUID | None = None,
    group_id: UUID | None = None,
    posted_from: datetime | None = None,
    posted_before: datetime | None = None,
    limit: int | None = None,
) -> list[UUID]:
    stmt = select(Post.id).where(Post.tenant == tenant)
    if subject_id is not None:
        stmt = stmt.where(Post.subject_id == subject_id)
    if group_id is not None:
        stmt = stmt.where(Post.group_id == group_id)
    if posted_from is not None:
        stmt = stmt.where(Post.created_at >= posted_from)
    if posted_before is not None:
        stmt = stmt.where(Post.created_at < posted_before)
    if limit is not None:
        # Several worker replicas may run the retention job: each takes rows the others have not locked.
        stmt = stmt.order_by(Post.created_at).limit(limit).with_for_update(skip_locked=True)
    return list((await session.execute(stmt)).scalars())


async def erase_posts(session: AsyncSession, *, post_ids: Sequence[UUID]) -> tuple[list[str], dict[str, int]]:
    """Delete posts with their versions, read marks and attachment rows; returns the object keys to remove and
    the count per subject or group (for the audit)."""
    if not post_ids:
        return [], {}
    attachments = (
        await session.execute(
            delete(Attachment)
            .where(Attachment.post_id.in_(post_ids))
            .returning(Attachment.object_key, Attachment.thumbnail_key)
        )
    ).all()
    keys = [key for row in attachments for key in row if key]
    await session.execute(delete(PostVersion).where(PostVersion.post_id.in_(post_ids)))
    await session.execute(delete(ReadMark).where(ReadMark.post_id.in_(post_ids)))
    removed = (
        await session.execute(
            delete(Post).where(Post.id.in_(post_ids)).returning(Post.subject_id, Post.group_id)
        )
    ).all()
    per_board: dict[str, int] = {}
    for subject_id, group_id in removed:
        board = f"subject:{subject_id}" if subject_id else f"group:{group_id}"
        per_board[board] = per_board.get(board, 0) + 1
    return keys, per_board


async def erase_unattached_uploads(
    session: AsyncSession, *, subject_id: UUID | None = None, older_than: datetime | None = None
) -> list[str]:
    stmt = delete(Attachment).where(Attachment.post_id.is_(None))
    if subject_id is not None:
        stmt = stmt.where(Attachment.subject_id == subject_id)
    if older_than is not None:
        stmt = stmt.where(Attachment.created_at < older_than)
    rows = (await session.execute(stmt.returning(Attachment.object_key, Attachment.thumbnail_key))).all()
    return [key for row in rows for key in row if key]


async def tenants_with_posts_before(session: AsyncSession, *, before: datetime) -> list[str]:
    stmt = select(Post.tenant).where(Post.created_at < before).distinct()
    return list((await session.execute(stmt)).scalars())
