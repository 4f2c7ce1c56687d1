"""Queries of posts: pages of threads, replies, read marks, versions, the feed and search."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import Result, Row, func, literal_column, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit
from yui_common.auth import Principal
from yui_common.db import DriverStatement

from timeline.models import (
    UNREAD_WINDOW,
    Person,
    Post,
    PostVersion,
    ReadMark,
)
from timeline.posts.schemas import FIRST_READERS, RECENT_REPLIES

# The page's columns of a post, in the order timeline.posts.pages.post_json unpacks them. Ids leave as text:
# pydantic_core serialises asyncpg's own UUID type through a slow fallback (about 2 ms for a 50-post page),
# and PostgreSQL's text form of a uuid is the JSON's.
_FIELDS = (
    ("id", True),
    ("subject_id", True),
    ("group_id", True),
    ("parent_id", True),
    ("author_id", True),
    ("facility_id", True),
    ("category", False),
    ("body", False),
    ("version", False),
    ("mentioned_user_ids", True),
    ("created_at", False),
    ("updated_at", False),
    ("deleted_at", False),
    ("deleted_by", True),
    ("addressed_user_id", True),
    ("addressed_facility_id", True),
    ("request_status", False),
    ("request_updated_at", False),
)
_RAW_COLUMNS = ", ".join(f"{{p}}.{name}" for name, _ in _FIELDS)
_POST_COLUMNS = ", ".join(
    f"CAST({{p}}.{name} AS {'text[]' if name == 'mentioned_user_ids' else 'text'}) AS {name}"
    if is_id
    else f"{{p}}.{name}"
    for name, is_id in _FIELDS
)
# A person of the people projection as a record (name, name_kana, profession, facility_id, facility_name, status),
# NULL when the projection has not heard of them (timeline.people.person_json reads it).
_PERSON = (
    "{a}.name, {a}.name_kana, {a}.profession, CAST({a}.facility_id AS text), {a}.facility_name, {a}.status"
)
_ATTACHMENT = (
    "ROW(CAST(a.id AS text), CAST(a.post_id AS text), a.filename, a.content_type, a.size, a.content_sha256, "
    "a.signature, a.created_at, a.thumbnail_key IS NOT NULL)"
)
# The latest replies of a post (RECENT_REPLIES), the ones the timeline shows under it.
_RECENT_REPLIES = (
    "SELECT x.id, x.author_id, x.category, x.body, x.version, x.created_at, x.updated_at FROM posts x "  # noqa: S608 - constants only
    "WHERE x.parent_id = {p}.id AND x.deleted_at IS NULL ORDER BY x.created_at DESC, x.id DESC "
    f"LIMIT {RECENT_REPLIES}"
)
# What a reader sees beside a post: reply and read counts, whether I read it, its attachments as records
# (id, post_id, filename, content_type, size, content_sha256, signature, created_at, has_thumbnail); then its
# people (issue 10): the author, those mentioned, the first readers, the latest replies with their authors and
# attachments, and a support request's addressee. Each is a subquery of the page's own statement, so a page
# stays one round trip whatever it shows.
_POST_EXTRAS = (
    "(SELECT count(*) FROM posts r WHERE r.parent_id = {p}.id AND r.deleted_at IS NULL) AS reply_count, "  # noqa: S608 - constants only
    "(SELECT count(*) FROM read_marks m WHERE m.post_id = {p}.id) AS read_count, "
    "EXISTS (SELECT 1 FROM read_marks m WHERE m.post_id = {p}.id AND m.user_id = :me) AS read_by_me, "
    "CASE WHEN {p}.deleted_at IS NULL THEN (SELECT array_agg("
    + _ATTACHMENT
    + " ORDER BY a.created_at) FROM attachments a WHERE a.post_id = {p}.id) END AS attachments, "
    "(SELECT ROW("
    + _PERSON.format(a="pa")
    + ") FROM people pa WHERE pa.user_id = {p}.author_id AND pa.tenant = :tenant) AS author, "
    "CASE WHEN {p}.deleted_at IS NULL AND cardinality({p}.mentioned_user_ids) > 0 THEN (SELECT array_agg("
    "ROW(CAST(mu.id AS text), "
    + _PERSON.format(a="pm")
    + ") ORDER BY mu.n) FROM unnest({p}.mentioned_user_ids) WITH ORDINALITY AS mu(id, n) "
    " LEFT JOIN people pm ON pm.user_id = mu.id AND pm.tenant = :tenant) END AS mentioned, "
    "(SELECT array_agg(ROW(CAST(rm.user_id AS text), rm.read_at, "
    + _PERSON.format(a="pr")
    + ") ORDER BY rm.read_at, rm.user_id) FROM (SELECT m.user_id, m.read_at FROM read_marks m "  # noqa: S608
    f" WHERE m.post_id = {{p}}.id ORDER BY m.read_at, m.user_id LIMIT {FIRST_READERS}) rm "
    " LEFT JOIN people pr ON pr.user_id = rm.user_id AND pr.tenant = :tenant) AS read_by, "
    "(SELECT array_agg(ROW(CAST(x.id AS text), CAST(x.author_id AS text), x.category, x.body, x.version, "
    " x.created_at, x.updated_at, "
    " EXISTS (SELECT 1 FROM read_marks xm WHERE xm.post_id = x.id AND xm.user_id = :me), "
    + _PERSON.format(a="px")
    + ") ORDER BY x.created_at, x.id) FROM ("
    + _RECENT_REPLIES
    + ") x LEFT JOIN people px ON px.user_id = x.author_id AND px.tenant = :tenant) AS recent_replies, "
    "(SELECT array_agg("
    + _ATTACHMENT
    + " ORDER BY a.created_at) FROM attachments a WHERE a.post_id IN (SELECT x.id FROM ("
    + _RECENT_REPLIES
    + ") x)) AS reply_attachments, "
    "CASE WHEN {p}.addressed_user_id IS NOT NULL THEN (SELECT ROW("
    + _PERSON.format(a="pd")
    + ") FROM people pd WHERE pd.user_id = {p}.addressed_user_id AND pd.tenant = :tenant) END AS addressee, "
    "CASE WHEN {p}.addressed_facility_id IS NOT NULL THEN (SELECT pf.facility_name FROM people pf "
    " WHERE pf.facility_id = {p}.addressed_facility_id AND pf.tenant = :tenant "
    " ORDER BY pf.updated_at DESC, pf.user_id LIMIT 1) END AS addressed_facility_name"
)
# A board's page in one statement: the threads' first posts, newest first after the keyset cursor (one index
# range scan), each with what a reader sees beside it. The page is cut first (LIMIT in the CTE), so the
# per-post subqueries run for its rows only. The same statement appends the reading's audit entry, with the
# number of threads it read (yui_common.audit.counted_entry_cte).
_PAGE = (
    "WITH page AS (SELECT "  # noqa: S608 - constant fragments only
    + _RAW_COLUMNS.format(p="p")
    + " FROM posts p WHERE p.{board} = :board AND p.parent_id IS NULL AND p.support_stopped_at IS NULL "
    "{after} ORDER BY p.created_at DESC, p.id DESC LIMIT :limit), "
    + audit.counted_entry_cte("audited", "page", "count")
    + " SELECT "
    + _POST_COLUMNS.format(p="page")
    + ", "
    + _POST_EXTRAS.format(p="page")
    + " FROM page ORDER BY page.created_at DESC, page.id DESC"
)
_AFTER = "AND (p.created_at, p.id) < (:before_at, :before_id)"
_PAGES = {
    (board, keyset): DriverStatement.of(text(_PAGE.format(board=board, after=_AFTER if keyset else "")))
    for board in ("subject_id", "group_id")
    for keyset in (False, True)
}


async def audited_page_rows(
    connection: asyncpg.Connection,
    *,
    principal: Principal,
    subject_id: UUID | None = None,
    group_id: UUID | None = None,
    target: str,
    limit: int,
    before: tuple[datetime, UUID] | None,
) -> list[asyncpg.Record]:
    """One page of a board as plain rows, for ``timeline.posts.pages``, and its audit entry (``post.list``
    with the count), in one statement on the driver's connection: the page is read only if its entry is
    written, and the entry only if the page was read."""
    params: dict[str, Any] = {
        "board": subject_id if subject_id is not None else group_id,
        "me": principal.user_id,
        "tenant": principal.tenant,
        "limit": limit,
        **audit.counted_entry_params(
            principal, action="post.list", subject_id=subject_id, target=target, key="count"
        ),
    }
    if before is not None:
        params["before_at"], params["before_id"] = before
    statement = _PAGES[("subject_id" if subject_id is not None else "group_id", before is not None)]
    return await connection.fetch(statement.sql, *statement.args(params))


# Whom a post on a board may mention (its care team, or its group's members), the reader excepted, each with
# their person record, and the reading's audit entry (``post.mention_candidates`` with the count), in one
# statement: what the ORM path's mention_candidates read and recorded, for the staff UI's conversation page.
_MEMBERS = {
    "subject_id": "SELECT m.user_id FROM care_team_members m WHERE m.subject_id = :board AND m.user_id <> :me",
    "group_id": "SELECT m.user_id FROM group_members m WHERE m.group_id = :board AND m.status = 'member' "
    "AND m.user_id <> :me",
}
_CANDIDATES = {
    board: DriverStatement.of(
        text(
            f"WITH members AS ({members}), "  # noqa: S608 - constant fragments only
            + audit.counted_entry_cte("audited", "members", "count")
            + " SELECT CAST(members.user_id AS text), (SELECT ROW("
            + _PERSON.format(a="pc")
            + ") FROM people pc WHERE pc.user_id = members.user_id AND pc.tenant = :tenant) FROM members"
        )
    )
    for board, members in _MEMBERS.items()
}


async def audited_mention_candidates(
    connection: asyncpg.Connection,
    *,
    principal: Principal,
    subject_id: UUID | None = None,
    group_id: UUID | None = None,
    target: str,
) -> list[asyncpg.Record]:
    """(user id, person record or None) of everyone a post on the board may mention but the reader, with the
    reading's audit entry, in one statement on the driver's connection."""
    params: dict[str, Any] = {
        "board": subject_id if subject_id is not None else group_id,
        "me": principal.user_id,
        "tenant": principal.tenant,
        **audit.counted_entry_params(
            principal, action="post.mention_candidates", subject_id=subject_id, target=target, key="count"
        ),
    }
    statement = _CANDIDATES["subject_id" if subject_id is not None else "group_id"]
    return await connection.fetch(statement.sql, *statement.args(params))


async def post_by_id(session: AsyncSession, *, tenant: str, post_id: UUID, lock: bool = False) -> Post | None:
    stmt = select(Post).where(Post.id == post_id, Post.tenant == tenant)
    if lock:
        # populate_existing: a post this session already loaded must show the row as locked, not as first read.
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


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


async def mark_read(session: AsyncSession, *, post_ids: Sequence[UUID], user_id: UUID) -> int:
    """Mark the posts read by the user; returns how many were not read before."""
    if not post_ids:
        return 0
    stmt = insert(ReadMark).values([{"post_id": pid, "user_id": user_id} for pid in post_ids])
    # The first reading is the one that counts (既読 shows when it was first read).
    result: Result[Any] = await session.execute(stmt.on_conflict_do_nothing().returning(literal_column("1")))
    return len(result.all())


async def readable_posts_among(
    session: AsyncSession,
    *,
    subject_id: UUID | None,
    group_id: UUID | None,
    post_ids: Sequence[UUID],
    user_id: UUID,
) -> list[UUID]:
    """Those of ``post_ids`` that are posts or replies of the board, shown, and written by someone else."""
    board = Post.subject_id == subject_id if subject_id is not None else Post.group_id == group_id
    stmt = select(Post.id).where(
        Post.id.in_(post_ids),
        board,
        Post.author_id != user_id,
        Post.deleted_at.is_(None),
        Post.support_stopped_at.is_(None),
    )
    return list((await session.execute(stmt)).scalars())


async def recent_replies_of(session: AsyncSession, *, post_ids: Sequence[UUID]) -> Sequence[Post]:
    """The latest RECENT_REPLIES shown replies of each post, in one statement, oldest first per post."""
    if not post_ids:
        return []
    ranked = (
        select(
            Post.id,
            func.row_number()
            .over(partition_by=Post.parent_id, order_by=(Post.created_at.desc(), Post.id.desc()))
            .label("rank"),
        )
        .where(Post.parent_id.in_(post_ids), Post.deleted_at.is_(None))
        .subquery()
    )
    stmt = (
        select(Post)
        .join(ranked, ranked.c.id == Post.id)
        .where(ranked.c.rank <= RECENT_REPLIES)
        .order_by(Post.created_at, Post.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def read_marks_among(session: AsyncSession, *, post_ids: Sequence[UUID]) -> list[tuple[UUID, UUID]]:
    """Every (post, reader) of these posts, in reading order."""
    if not post_ids:
        return []
    stmt = (
        select(ReadMark.post_id, ReadMark.user_id)
        .where(ReadMark.post_id.in_(post_ids))
        .order_by(ReadMark.read_at, ReadMark.user_id)
    )
    return [(row.post_id, row.user_id) for row in await session.execute(stmt)]


async def first_readers_of(session: AsyncSession, *, post_ids: Sequence[UUID]) -> Sequence[ReadMark]:
    """The first FIRST_READERS read marks of each post, in one statement, in reading order."""
    if not post_ids:
        return []
    ranked = (
        select(
            ReadMark.post_id,
            ReadMark.user_id,
            func.row_number()
            .over(partition_by=ReadMark.post_id, order_by=(ReadMark.read_at, ReadMark.user_id))
            .label("rank"),
        )
        .where(ReadMark.post_id.in_(post_ids))
        .subquery()
    )
    stmt = (
        select(ReadMark)
        .join(ranked, (ranked.c.post_id == ReadMark.post_id) & (ranked.c.user_id == ReadMark.user_id))
        .where(ranked.c.rank <= FIRST_READERS)
        .order_by(ReadMark.read_at, ReadMark.user_id)
    )
    return (await session.execute(stmt)).scalars().all()


async def facility_names(
    session: AsyncSession, *, tenant: str, facility_ids: Sequence[UUID]
) -> dict[UUID, str]:
    """A facility's name as its people last told it (timeline keeps no facilities of its own)."""
    if not facility_ids:
        return {}
    stmt = (
        select(Person.facility_id, Person.facility_name)
        .where(Person.tenant == tenant, Person.facility_id.in_(facility_ids))
        .order_by(Person.facility_id, Person.updated_at.desc(), Person.user_id)
        .distinct(Person.facility_id)
    )
    return {row.facility_id: row.facility_name for row in await session.execute(stmt)}


async def versions_of(session: AsyncSession, *, post_id: UUID) -> Sequence[PostVersion]:
    stmt = select(PostVersion).where(PostVersion.post_id == post_id).order_by(PostVersion.version)
    return (await session.execute(stmt)).scalars().all()


# --- the feed -----------------------------------------------------------------------------------------------

# One row per board I belong to: its latest shown post and how many posts others wrote that I have not opened.

_BOARDS = (
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
# ... and the latest post as the page shows one, in the same statement (its columns are NULL for a board
# without posts: ``id`` then is).
_FEED = text(
    "WITH boards AS (" + _BOARDS + ") "  # noqa: S608 - constant fragments only
    "SELECT boards.kind, boards.board_id, boards.unread, "
    + _POST_COLUMNS.format(p="p")
    + ", "
    + _POST_EXTRAS.format(p="p")
    + " FROM boards LEFT JOIN posts p ON p.id = boards.latest"
)


async def feed_rows(session: AsyncSession, *, tenant: str, user_id: UUID) -> Sequence[Row[Any]]:
    """Per board I belong to: kind, board_id, unread, and the latest post's page columns (id NULL if none)."""
    return (await session.execute(_FEED, {"me": user_id, "tenant": tenant, "window": UNREAD_WINDOW})).all()


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
