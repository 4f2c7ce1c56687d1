"""Every query of the timeline service. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Result, and_, delete, func, literal, literal_column, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from timeline.models import (
    UNREAD_WINDOW,
    Attachment,
    CareTeamMember,
    Group,
    GroupMember,
    Post,
    PostVersion,
    ReadMark,
    SubjectAccess,
)

# --- who may see what ---------------------------------------------------------------------------------------


async def access_of(
    session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID
) -> SubjectAccess | None:
    """The subject's access row, only when the user is on its care team (one indexed join)."""
    stmt = (
        select(SubjectAccess)
        .join(CareTeamMember, and_(CareTeamMember.subject_id == SubjectAccess.subject_id))
        .where(
            SubjectAccess.subject_id == subject_id,
            SubjectAccess.tenant == tenant,
            CareTeamMember.user_id == user_id,
        )
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def subject_access(session: AsyncSession, *, subject_id: UUID) -> SubjectAccess | None:
    return await session.get(SubjectAccess, subject_id)


async def team_members_among(
    session: AsyncSession, *, subject_id: UUID, user_ids: Sequence[UUID]
) -> set[UUID]:
    stmt = select(CareTeamMember.user_id).where(
        CareTeamMember.subject_id == subject_id, CareTeamMember.user_id.in_(user_ids)
    )
    return set((await session.execute(stmt)).scalars())


async def group_membership(
    session: AsyncSession, *, tenant: str, group_id: UUID, user_id: UUID
) -> tuple[Group, GroupMember] | None:
    stmt = (
        select(Group, GroupMember)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(Group.id == group_id, Group.tenant == tenant, GroupMember.user_id == user_id)
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def group_members_among(
    session: AsyncSession, *, group_id: UUID, user_ids: Sequence[UUID]
) -> set[UUID]:
    stmt = select(GroupMember.user_id).where(
        GroupMember.group_id == group_id, GroupMember.user_id.in_(user_ids), GroupMember.status == "member"
    )
    return set((await session.execute(stmt)).scalars())


# --- posts --------------------------------------------------------------------------------------------------


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


async def attachments_of_posts(session: AsyncSession, *, post_ids: Sequence[UUID]) -> Sequence[Attachment]:
    if not post_ids:
        return []
    stmt = select(Attachment).where(Attachment.post_id.in_(post_ids)).order_by(Attachment.created_at)
    return (await session.execute(stmt)).scalars().all()


async def versions_of(session: AsyncSession, *, post_id: UUID) -> Sequence[PostVersion]:
    stmt = select(PostVersion).where(PostVersion.post_id == post_id).order_by(PostVersion.version)
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


async def posts_by_ids(session: AsyncSession, *, post_ids: Sequence[UUID]) -> dict[UUID, Post]:
    if not post_ids:
        return {}
    return {p.id: p for p in (await session.execute(select(Post).where(Post.id.in_(post_ids)))).scalars()}


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


async def my_group_ids(session: AsyncSession, *, tenant: str, user_id: UUID) -> list[UUID]:
    stmt = (
        select(Group.id)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(Group.tenant == tenant, GroupMember.user_id == user_id, GroupMember.status == "member")
    )
    return list((await session.execute(stmt)).scalars())


# --- groups -------------------------------------------------------------------------------------------------


async def my_groups(session: AsyncSession, *, tenant: str, user_id: UUID) -> Sequence[tuple[Group, str]]:
    stmt = (
        select(Group, GroupMember.status)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(Group.tenant == tenant, GroupMember.user_id == user_id)
        .order_by(Group.created_at.desc())
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def group_members(session: AsyncSession, *, group_id: UUID) -> Sequence[GroupMember]:
    stmt = select(GroupMember).where(GroupMember.group_id == group_id).order_by(GroupMember.invited_at)
    return (await session.execute(stmt)).scalars().all()


async def invite(session: AsyncSession, *, group_id: UUID, user_id: UUID, invited_by: UUID) -> bool:
    stmt = insert(GroupMember).values(
        group_id=group_id, user_id=user_id, status="invited", invited_by=invited_by
    )
    result: Result[Any] = await session.execute(stmt.on_conflict_do_nothing().returning(literal_column("1")))
    return result.first() is not None


async def remove_group_member(session: AsyncSession, *, group_id: UUID, user_id: UUID) -> bool:
    result = await session.execute(
        delete(GroupMember).where(GroupMember.group_id == group_id, GroupMember.user_id == user_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- consent projection -------------------------------------------------------------------------------------


async def upsert_access(
    session: AsyncSession,
    *,
    tenant: str,
    subject_id: UUID,
    consent_active: bool,
    support_stopped_at: datetime | None,
) -> None:
    stmt = insert(SubjectAccess).values(
        subject_id=subject_id,
        tenant=tenant,
        consent_active=consent_active,
        support_stopped_at=support_stopped_at,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[SubjectAccess.subject_id],
        set_={
            "consent_active": consent_active,
            "support_stopped_at": support_stopped_at,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt)


async def stop_access(session: AsyncSession, *, tenant: str, subject_id: UUID, at: datetime) -> datetime:
    """Refuse the subject from ``at``, or keep the moment it was first refused (a withdrawal's two steps and a
    replayed event all see one time); returns that moment."""
    stmt = insert(SubjectAccess).values(
        subject_id=subject_id, tenant=tenant, consent_active=False, support_stopped_at=at
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[SubjectAccess.subject_id],
        set_={
            "consent_active": False,
            "support_stopped_at": func.coalesce(
                SubjectAccess.support_stopped_at, stmt.excluded.support_stopped_at
            ),
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(SubjectAccess.support_stopped_at)
    stopped_at = (await session.execute(upsert)).scalar_one()
    return stopped_at or at  # never None: the row was just given ``at`` or already had a time


async def ensure_access(session: AsyncSession, *, tenant: str, subject_id: UUID) -> None:
    """Know of the subject (no consent yet) without overriding what consent's events already said."""
    stmt = insert(SubjectAccess).values(subject_id=subject_id, tenant=tenant, consent_active=False)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=[SubjectAccess.subject_id]))


async def add_member(session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID) -> None:
    stmt = insert(CareTeamMember).values(subject_id=subject_id, user_id=user_id, tenant=tenant)
    await session.execute(stmt.on_conflict_do_nothing())


async def remove_member(session: AsyncSession, *, subject_id: UUID, user_id: UUID) -> None:
    await session.execute(
        delete(CareTeamMember).where(
            CareTeamMember.subject_id == subject_id, CareTeamMember.user_id == user_id
        )
    )


async def stop_posts(session: AsyncSession, *, subject_id: UUID, at: datetime) -> int:
    result = await session.execute(
        update(Post)
        .where(Post.subject_id == subject_id, Post.support_stopped_at.is_(None))
        .values(support_stopped_at=at)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- erasure (withdrawal with deletion, retention, the operator) -------------------------------------------


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
