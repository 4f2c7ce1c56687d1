"""Queries of posts: pages of threads, replies, read marks, versions, the feed and search."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import literal, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from timeline.models import (
    UNREAD_WINDOW,
    Post,
    PostVersion,
    ReadMark,
)


def _board_filter(*, subject_id: UUID | None, group_id: UUID | None):  # type: ignore[no-untyped-def]
    return Post.subject_id == subject_id if subject_id is not None else Post.group_id == group_id


async def posts_page(
    session: AsyncSession,
    *,
    subject_id: UUID | None = None,
    group_id: UUID | None = None,
    limit: int,
    before: tuple[datetime, UUID] | None,
) -> Sequence[Post]:
    """Threads' first posts, newest first, after the keyset cursor (one index range scan)."""
    # search_text (the body again, normalised for trigram search) is never shown: not loaded.
    stmt = (
        select(Post)
        .options(defer(Post.search_text))
        .where(
            _board_filter(subject_id=subject_id, group_id=group_id),
            Post.parent_id.is_(None),
            Post.support_stopped_at.is_(None),
        )
    )
    if before is not None:
        stmt = stmt.where(tuple_(Post.created_at, Post.id) < tuple_(literal(before[0]), literal(before[1])))
    stmt = stmt.order_by(Post.created_at.desc(), Post.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def post_by_id(session: AsyncSession, *, tenant: str, post_id: UUID, lock: bool = False) -> Post | None:
    stmt = select(Post).where(Post.id == post_id, Post.tenant == tenant)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def posts_by_ids(session: AsyncSession, *, post_ids: Sequence[UUID]) -> dict[UUID, Post]:
    if not post_ids:
        return {}
    return {p.id: p for p in (await session.execute(select(Post).where(Post.id.in_(post_ids)))).scalars()}


async def live_posts_of_subject(session: AsyncSession, *, subject_id: UUID) -> Sequence[Post]:
    """Every shown post of the subject (not deleted, not support stopped), oldest first."""
    stmt = (
        select(Post)
        .where(Post.subject_id == subject_id, Post.deleted_at.is_(None), Post.support_stopped_at.is_(None))
        .order_by(Post.created_at, Post.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def replies_of(session: AsyncSession, *, post_id: UUID) -> Sequence[Post]:
    stmt = select(Post).where(Post.parent_id == post_id).order_by(Post.created_at, Post.id)
    return (await session.execute(stmt)).scalars().all()


_SUMMARIES = text(
    "SELECT ids.id, "
    "(SELECT count(*) FROM posts r WHERE r.parent_id = ids.id AND r.deleted_at IS NULL) AS replies, "
    "(SELECT count(*) FROM read_marks m WHERE m.post_id = ids.id) AS reads, "
    "EXISTS (SELECT 1 FROM read_marks m WHERE m.post_id = ids.id AND m.user_id = :me) AS read_by_me "
    "FROM unnest(CAST(:ids AS uuid[])) AS ids(id)"
)


async def post_summaries(
    session: AsyncSession, *, post_ids: Sequence[UUID], user_id: UUID
) -> dict[UUID, tuple[int, int, bool]]:
    """Per post, in one round trip: its replies, how many have read it, and whether this user has."""
    if not post_ids:
        return {}
    rows = await session.execute(_SUMMARIES, {"ids": list(post_ids), "me": user_id})
    return {row.id: (int(row.replies), int(row.reads), bool(row.read_by_me)) for row in rows}


async def read_marks_of(session: AsyncSession, *, post_id: UUID) -> Sequence[ReadMark]:
    stmt = select(ReadMark).where(ReadMark.post_id == post_id).order_by(ReadMark.read_at)
    return (await session.execute(stmt)).scalars().all()


async def mark_read(session: AsyncSession, *, post_ids: Sequence[UUID], user_id: UUID) -> None:
    if not post_ids:
        return
    stmt = insert(ReadMark).values([{"post_id": pid, "user_id": user_id} for pid in post_ids])
    # The first opening is the one that counts (既読 shows when it was first read).
    await session.execute(stmt.on_conflict_do_nothing())


async def versions_of(session: AsyncSession, *, post_id: UUID) -> Sequence[PostVersion]:
    stmt = select(PostVersion).where(PostVersion.post_id == post_id).order_by(PostVersion.version)
    return (await session.execute(stmt)).scalars().all()


# --- the feed -----------------------------------------------------------------------------------------------

# One row per board I belong to: its latest shown post and how many posts others wrote that I have not opened.

_FEED = text(
    "SELECT 'subject' AS kind, b.board_id, "
    "(SELECT l.id FROM posts l WHERE l.subject_id = b.board_id AND l.support_stopped_at IS NULL "
    " AND l.deleted_at IS NULL ORDER BY l.created_at DESC, l.id DESC LIMIT 1) AS latest, "
    "(SELECT count(*) FROM (SELECT u.id, u.author_id FROM posts u WHERE u.subject_id = b.board_id "
    "  AND u.deleted_at IS NULL AND u.support_stopped_at IS NULL "
    "  ORDER BY u.created_at DESC, u.id DESC LIMIT :window) w "
    " WHERE w.author_id <> :me "
    " AND NOT EXISTS (SELECT 1 FROM read_marks r WHERE r.post_id = w.id AND r.user_id = :me)) AS unread "
    "FROM (SELECT m.subject_id AS board_id FROM care_team_members m JOIN subject_access a "
    " ON a.subject_id = m.subject_id WHERE m.user_id = :me AND a.tenant = :tenant "
    " AND a.support_stopped_at IS NULL) b "
    "UNION ALL "
    "SELECT 'group', b.board_id, "
    "(SELECT l.id FROM posts l WHERE l.group_id = b.board_id AND l.deleted_at IS NULL "
    " ORDER BY l.created_at DESC, l.id DESC LIMIT 1), "
    "(SELECT count(*) FROM (SELECT u.id, u.author_id FROM posts u WHERE u.group_id = b.board_id "
    "  AND u.deleted_at IS NULL ORDER BY u.created_at DESC, u.id DESC LIMIT :window) w "
    " WHERE w.author_id <> :me "
    " AND NOT EXISTS (SELECT 1 FROM read_marks r WHERE r.post_id = w.id AND r.user_id = :me)) "
    "FROM (SELECT g.id AS board_id FROM groups g JOIN group_members gm ON gm.group_id = g.id "
    " WHERE gm.user_id = :me AND gm.status = 'member' AND g.tenant = :tenant) b"
)


async def feed(
    session: AsyncSession, *, tenant: str, user_id: UUID
) -> list[tuple[str, UUID, UUID | None, int]]:
    """(kind, board id, latest post id, unread count) for each of my subjects and groups."""
    rows = (await session.execute(_FEED, {"me": user_id, "tenant": tenant, "window": UNREAD_WINDOW})).all()
    return [(row.kind, row.board_id, row.latest, int(row.unread)) for row in rows]


# --- search -------------------------------------------------------------------------------------------------


def _like_pattern(normalised_query: str) -> str:
    escaped = normalised_query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_posts(
    session: AsyncSession,
    *,
    normalised_query: str,
    subject_ids: Sequence[UUID] = (),
    group_ids: Sequence[UUID] = (),
    limit: int = 50,
) -> Sequence[Post]:
    """Posts on the given boards whose normalised text contains the query.

    The board condition comes first: a subject's or a group's posts are one index range, and the substring
    test runs over that range only. For three characters and more the trigram GIN index
    (ix_posts_search_text) can serve the text condition instead, whichever the planner finds cheaper.
    """
    boards = []
    if subject_ids:
        boards.append(Post.subject_id.in_(subject_ids))
    if group_ids:
        boards.append(Post.group_id.in_(group_ids))
    if not boards:
        return []
    stmt = (
        select(Post)
        .where(
            or_(*boards),
            Post.deleted_at.is_(None),
            Post.support_stopped_at.is_(None),
            Post.search_text.like(_like_pattern(normalised_query), escape="\\"),
        )
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()
