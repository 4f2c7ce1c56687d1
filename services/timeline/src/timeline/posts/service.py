"""Posts and threads (T1, t8, t9, t10): writing posts and replies, editing and deleting them, reading pages,
threads and read marks, the feed, search and the FHIR export. Never commits."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.timeline import GroupPostCreatedV1, PostCreatedV1, ReplyCreatedV1, UserMentionedV1
from yui_common.problems import Problem, not_found

from timeline.access import repository as access_repository
from timeline.access.service import (
    Board,
    board_for,
    board_of,
    group_board,
    is_operator,
    reach_post,
    record_audit,
    subject_board,
)
from timeline.attachments import repository as attachment_repository
from timeline.attachments import service as attachment_service
from timeline.groups import repository as group_repository
from timeline.integrity.service import new_version
from timeline.integrity.signing import ContentSigner
from timeline.medications import repository as medication_repository
from timeline.models import Attachment, Post, PostVersion, ReadMark, Vitals
from timeline.people import PersonRef, people_of, person_or_unknown
from timeline.posts import repository
from timeline.posts.excerpts import excerpt_of
from timeline.summary import repository as summary_repository
from timeline.support_requests import service as support_requests
from timeline.vitals import repository as vitals_repository


def search_key(text: str) -> str:
    """What search compares: NFKC (full/half width alike), case-folded, katakana folded to hiragana."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in folded)


async def _check_mentions(session: AsyncSession, board: Board, mentions: Sequence[UUID]) -> list[UUID]:
    wanted = list(dict.fromkeys(mentions))
    if not wanted:
        return []
    if board.subject_id is not None:
        known = await access_repository.team_members_among(
            session, subject_id=board.subject_id, user_ids=wanted
        )
    else:
        assert board.group_id is not None
        known = await group_repository.group_members_among(session, group_id=board.group_id, user_ids=wanted)
    if set(wanted) - known:
        raise Problem(
            422,
            "unknown-mention",
            "Unknown mention",
            "Only members of this care team or group can be mentioned.",
        )
    return wanted


async def write_post(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    board: Board,
    category: str,
    body: str,
    mentions: Sequence[UUID],
    attachment_ids: Sequence[UUID],
    parent: Post | None = None,
    addressed_user_id: UUID | None = None,
    addressed_facility_id: UUID | None = None,
) -> Post:
    mentioned = await _check_mentions(session, board, mentions)
    attachments = await attachment_service.pending_uploads(session, principal, board, attachment_ids)
    now = datetime.now(UTC)
    post = Post(
        id=uuid7(),
        tenant=principal.tenant,
        subject_id=board.subject_id,
        group_id=board.group_id,
        parent_id=parent.id if parent else None,
        author_id=principal.user_id,
        facility_id=principal.facility_id,
        category=category,
        body=body,
        search_text=search_key(body),
        version=1,
        mentioned_user_ids=mentioned,
        addressed_user_id=addressed_user_id,
        addressed_facility_id=addressed_facility_id,
        request_status="open" if (addressed_user_id or addressed_facility_id) else None,
        request_updated_at=now if (addressed_user_id or addressed_facility_id) else None,
        created_at=now,
    )
    session.add(post)
    session.add(
        new_version(
            signer,
            post,
            number=1,
            author_id=principal.user_id,
            category=category,
            body=body,
            attachments=attachments,
            at=now,
        )
    )
    await session.flush()
    if attachments:
        await attachment_repository.attach(
            session, attachment_ids=[a.id for a in attachments], post_id=post.id
        )
    subject = str(board.subject_id) if board.subject_id else None
    if board.subject_id is not None:
        await outbox.add_event(
            session,
            PostCreatedV1(
                subject_id=board.subject_id,
                post_id=post.id,
                author_id=principal.user_id,
                category=category,
                parent_id=post.parent_id,
                mentioned_user_ids=mentioned,
                excerpt=excerpt_of(body),
            ),
            tenant=principal.tenant,
            subject=subject,
        )
    else:
        assert board.group_id is not None
        await outbox.add_event(
            session,
            GroupPostCreatedV1(
                group_id=board.group_id,
                post_id=post.id,
                author_id=principal.user_id,
                parent_id=post.parent_id,
                mentioned_user_ids=mentioned,
            ),
            tenant=principal.tenant,
        )
    if parent is not None:
        await outbox.add_event(
            session,
            ReplyCreatedV1(
                post_id=post.id,
                parent_id=parent.id,
                author_id=principal.user_id,
                parent_author_id=parent.author_id,
                subject_id=board.subject_id,
                group_id=board.group_id,
                excerpt=excerpt_of(body),
            ),
            tenant=principal.tenant,
            subject=subject,
        )
    if mentioned:
        await outbox.add_event(
            session,
            UserMentionedV1(
                post_id=post.id,
                author_id=principal.user_id,
                mentioned_user_ids=mentioned,
                subject_id=board.subject_id,
                group_id=board.group_id,
                excerpt=excerpt_of(body),
                parent_id=post.parent_id,
            ),
            tenant=principal.tenant,
            subject=subject,
        )
    return post


async def create_post(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    board: Board,
    category: str,
    body: str,
    mentions: Sequence[UUID] = (),
    attachment_ids: Sequence[UUID] = (),
    addressed_user_id: UUID | None = None,
    addressed_facility_id: UUID | None = None,
) -> Post:
    # hold: the post (or support request) commits before a withdrawal of the subject, or sees it (C4).
    board = await board_for(session, principal, board, write=True, hold=True)
    if addressed_user_id or addressed_facility_id:
        support_requests.require_subject_board(board)
    post = await write_post(
        session,
        principal=principal,
        signer=signer,
        board=board,
        category=category,
        body=body,
        mentions=mentions,
        attachment_ids=attachment_ids,
        addressed_user_id=addressed_user_id,
        addressed_facility_id=addressed_facility_id,
    )
    if post.request_status is not None:
        await support_requests.announce_request(session, principal=principal, post=post)
    await record_audit(session, principal, "post.create", board, post=post.id)
    return post


async def reply(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    post_id: UUID,
    category: str,
    body: str,
    mentions: Sequence[UUID] = (),
    attachment_ids: Sequence[UUID] = (),
) -> Post:
    # hold before the root is locked: a member's reply and an addressee's answer alike commit before a
    # withdrawal of the subject, or wait for it and are refused (C4).
    _, root = await reach_post(session, principal=principal, post_id=post_id, hold=True)
    root = await repository.post_by_id(session, tenant=principal.tenant, post_id=root.id, lock=True) or root
    if root.deleted_at is not None:
        raise Problem(409, "post-deleted", "Post deleted", "A deleted post takes no replies.")
    board = board_of(root)
    answering = support_requests.answers_request(root, principal)
    if not answering:
        await board_for(session, principal, board, write=True)
    elif attachment_ids:
        raise Problem(
            422,
            "unknown-attachment",
            "Unknown attachment",
            "An addressee who is not on the care team answers in text.",
        )
    created = await write_post(
        session,
        principal=principal,
        signer=signer,
        board=board,
        category=category,
        body=body,
        mentions=mentions,
        attachment_ids=attachment_ids,
        parent=root,
    )
    if answering:
        await support_requests.record_answer(session, principal=principal, request=root, answer=created)
    await record_audit(session, principal, "post.reply", board, post=created.id, parent=root.id)
    return created


async def edit_post(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    post_id: UUID,
    category: str | None,
    body: str,
) -> Post:
    """A new version; the earlier ones stay as they were (T5)."""
    post, _ = await reach_post(session, principal=principal, post_id=post_id, lock=True, hold=True)
    if post.author_id != principal.user_id:
        raise Problem(403, "not-author", "Only the author edits", "Only the author can edit a post.")
    if post.deleted_at is not None:
        raise Problem(409, "post-deleted", "Post deleted", "A deleted post cannot be edited.")
    if await session.get(Vitals, post.id) is not None:
        # Its words and its data must not part: the chart reads the row, the team reads the signed text.
        raise Problem(
            409,
            "vitals-post",
            "Vitals are not edited",
            "測定値の記録は編集できません。削除して記録し直してください。 / "
            "A vitals entry is not edited: delete it and record it again.",
        )
    previous = (await repository.versions_of(session, post_id=post.id))[-1]
    attachments = await attachment_repository.attachments_by_ids(
        session, attachment_ids=previous.attachment_ids
    )
    now = datetime.now(UTC)
    number = post.version + 1
    category = category or post.category
    session.add(
        new_version(
            signer,
            post,
            number=number,
            author_id=principal.user_id,
            category=category,
            body=body,
            attachments=attachments,
            at=now,
        )
    )
    post.version, post.category, post.body, post.search_text, post.updated_at = (
        number,
        category,
        body,
        search_key(body),
        now,
    )
    await session.flush()
    await record_audit(session, principal, "post.edit", board_of(post), post=post.id, version=number)
    return post


async def delete_post(session: AsyncSession, *, principal: Principal, post_id: UUID) -> Post:
    """A tombstone: the post stays in place, its content hidden from all; its versions stay as history."""
    post = await repository.post_by_id(session, tenant=principal.tenant, post_id=post_id, lock=True)
    if post is None:
        raise not_found("post")
    if not is_operator(principal):
        post, _ = await reach_post(session, principal=principal, post_id=post_id, lock=True)
        if post.author_id != principal.user_id:
            raise Problem(
                403,
                "not-author",
                "Only the author or the operator deletes",
                "Only the author or the operator can delete a post.",
            )
    if post.deleted_at is None:
        post.deleted_at = datetime.now(UTC)
        post.deleted_by = principal.user_id
        await session.flush()
    await record_audit(
        session,
        principal,
        "post.delete",
        board_of(post),
        post=post.id,
        by_operator=is_operator(principal) and post.author_id != principal.user_id,
    )
    return post


@dataclass
class Reader:
    """A read mark with the reader's name."""

    mark: ReadMark
    reader: PersonRef


@dataclass
class ReplyView:
    """A reply as the timeline shows it under its post."""

    post: Post
    author: PersonRef
    attachments: list[Attachment]
    read_by_me: bool = False
    unread: bool = False


@dataclass
class PostView:
    """A post with what the reader sees beside it."""

    post: Post
    attachments: list[Attachment]
    reply_count: int = 0
    read_count: int = 0
    read_by_me: bool = False
    author: PersonRef | None = None
    mentioned: list[PersonRef] = field(default_factory=list)
    unread: bool = False
    read_by: list[Reader] = field(default_factory=list)
    recent_replies: list[ReplyView] = field(default_factory=list)
    addressee: PersonRef | None = None
    addressed_facility_name: str | None = None


async def views_of(session: AsyncSession, principal: Principal, posts: Sequence[Post]) -> list[PostView]:
    """The posts as a page shows them, with a fixed number of queries whatever their number (each query
    answers for all the posts at once)."""
    ids = [p.id for p in posts]
    replies = list(await repository.recent_replies_of(session, post_ids=ids))
    reply_ids = [r.id for r in replies]
    attachments = await attachment_repository.attachments_of_posts(session, post_ids=ids + reply_ids)
    summaries = await repository.post_summaries(session, post_ids=ids + reply_ids, user_id=principal.user_id)
    readers = await repository.first_readers_of(session, post_ids=ids)
    people = await people_of(
        session,
        tenant=principal.tenant,
        user_ids=[
            *(p.author_id for p in posts),
            *(p.addressed_user_id for p in posts),
            *(u for p in posts for u in p.mentioned_user_ids),
            *(r.author_id for r in replies),
            *(m.user_id for m in readers),
        ],
    )
    facilities = await repository.facility_names(
        session,
        tenant=principal.tenant,
        facility_ids=list({p.addressed_facility_id for p in posts if p.addressed_facility_id}),
    )
    by_post: dict[UUID, list[Attachment]] = {}
    for attachment in attachments:
        by_post.setdefault(attachment.post_id, []).append(attachment)  # type: ignore[arg-type]
    readers_of: dict[UUID, list[Reader]] = {}
    for mark in readers:
        readers_of.setdefault(mark.post_id, []).append(Reader(mark, person_or_unknown(people, mark.user_id)))
    replies_of: dict[UUID, list[ReplyView]] = {}
    for r in replies:
        read = summaries.get(r.id, (0, 0, False))[2]
        replies_of.setdefault(r.parent_id, []).append(  # type: ignore[arg-type]
            ReplyView(
                post=r,
                author=person_or_unknown(people, r.author_id),
                attachments=by_post.get(r.id, []),
                read_by_me=read,
                unread=not read and r.author_id != principal.user_id,
            )
        )
    views = []
    for p in posts:
        _, read_count, read_by_me = summaries.get(p.id, (0, 0, False))
        deleted = p.deleted_at is not None
        views.append(
            PostView(
                post=p,
                attachments=by_post.get(p.id, []) if not deleted else [],
                reply_count=summaries.get(p.id, (0, 0, False))[0],
                read_count=read_count,
                read_by_me=read_by_me,
                author=person_or_unknown(people, p.author_id),
                mentioned=[] if deleted else [person_or_unknown(people, u) for u in p.mentioned_user_ids],
                unread=not deleted and not read_by_me and p.author_id != principal.user_id,
                read_by=readers_of.get(p.id, []),
                recent_replies=replies_of.get(p.id, []),
                addressee=person_or_unknown(people, p.addressed_user_id) if p.addressed_user_id else None,
                addressed_facility_name=facilities.get(p.addressed_facility_id)
                if p.addressed_facility_id
                else None,
            )
        )
    return views


@dataclass
class Thread:
    view: PostView
    replies: list[PostView]
    read_by: list[Reader]


async def _readers(session: AsyncSession, principal: Principal, post_id: UUID) -> list[Reader]:
    marks = list(await repository.read_marks_of(session, post_id=post_id))
    people = await people_of(session, tenant=principal.tenant, user_ids=[m.user_id for m in marks])
    return [Reader(m, person_or_unknown(people, m.user_id)) for m in marks]


async def open_post(session: AsyncSession, *, principal: Principal, post_id: UUID) -> Thread:
    """The post with its replies and who read it; opening marks the post and its replies read (t8)."""
    post, _ = await reach_post(session, principal=principal, post_id=post_id)
    replies = list(await repository.replies_of(session, post_id=post.id)) if post.parent_id is None else []
    unread = [p.id for p in [post, *replies] if p.author_id != principal.user_id and p.deleted_at is None]
    await repository.mark_read(session, post_ids=unread, user_id=principal.user_id)
    views = await views_of(session, principal, [post, *replies])
    read_by = await _readers(session, principal, post.id)
    await record_audit(session, principal, "post.read", board_of(post), post=post.id)
    return Thread(view=views[0], replies=views[1:], read_by=read_by)


async def read_marks(session: AsyncSession, *, principal: Principal, post_id: UUID) -> list[Reader]:
    post, _ = await reach_post(session, principal=principal, post_id=post_id)
    readers = await _readers(session, principal, post.id)
    await record_audit(session, principal, "post.read_marks", board_of(post), post=post.id)
    return readers


async def mark_seen(
    session: AsyncSession, *, principal: Principal, board: Board, post_ids: Sequence[UUID]
) -> int:
    """Posts and replies of a board that have been on the reader's screen count as read (issue 10): one
    authorization and one audit entry for the batch. Ids not on the board, deleted, or the reader's own are
    passed over, so a batch is idempotent and a stale one harmless. Returns how many were newly marked."""
    board = await board_for(session, principal, board)
    wanted = list(dict.fromkeys(post_ids))
    readable = await repository.readable_posts_among(
        session,
        subject_id=board.subject_id,
        group_id=board.group_id,
        post_ids=wanted,
        user_id=principal.user_id,
    )
    marked = await repository.mark_read(session, post_ids=readable, user_id=principal.user_id)
    await record_audit(session, principal, "post.mark_read", board, posts=len(wanted), marked=marked)
    return marked


@dataclass
class VersionView:
    version: PostVersion
    author: PersonRef


async def post_versions(session: AsyncSession, *, principal: Principal, post_id: UUID) -> list[VersionView]:
    post, _ = await reach_post(session, principal=principal, post_id=post_id)
    if post.deleted_at is not None:
        raise Problem(
            410, "post-deleted", "Post deleted", "The post was deleted; only its tombstone is shown."
        )
    versions = list(await repository.versions_of(session, post_id=post.id))
    people = await people_of(session, tenant=principal.tenant, user_ids=[v.author_id for v in versions])
    await record_audit(session, principal, "post.versions", board_of(post), post=post.id)
    return [VersionView(v, person_or_unknown(people, v.author_id)) for v in versions]


async def search(
    session: AsyncSession,
    *,
    principal: Principal,
    query: str,
    subject_id: UUID | None = None,
    group_id: UUID | None = None,
) -> list[PostView]:
    """Japanese text search (t9) within one subject's timeline, one group, or all my groups."""
    normalised = search_key(query).strip()
    if not normalised:
        raise Problem(422, "empty-query", "Empty query", "Search for at least one character.")
    if subject_id is not None:
        board = await subject_board(session, principal=principal, subject_id=subject_id)
        posts = await repository.search_posts(session, normalised_query=normalised, subject_ids=[subject_id])
    elif group_id is not None:
        board = await group_board(session, principal=principal, group_id=group_id)
        posts = await repository.search_posts(session, normalised_query=normalised, group_ids=[group_id])
    else:
        board = None
        groups = await group_repository.my_group_ids(
            session, tenant=principal.tenant, user_id=principal.user_id
        )
        posts = await repository.search_posts(session, normalised_query=normalised, group_ids=groups)
    await record_audit(session, principal, "post.search", board, count=len(posts))
    return await views_of(session, principal, posts)


async def fhir_export(session: AsyncSession, *, principal: Principal, subject_id: UUID) -> dict[str, object]:
    from timeline.posts import fhir

    board = await subject_board(session, principal=principal, subject_id=subject_id)
    posts = await repository.live_posts_of_subject(session, subject_id=subject_id)
    attachments = await attachment_repository.attachments_of_posts(session, post_ids=[p.id for p in posts])
    vitals = await vitals_repository.shown_vitals(session, tenant=principal.tenant, subject_id=subject_id)
    summary = await summary_repository.newest(session, subject_id)
    medications = await medication_repository.listed(session, subject_id)
    await record_audit(
        session,
        principal,
        "post.export_fhir",
        board,
        posts=len(posts),
        attachments=len(attachments),
        vitals=len(vitals),
        summary_version=summary.version if summary is not None else 0,
        medications=len(medications),
    )
    return fhir.bundle(
        subject_id,
        posts,
        attachments,
        attachment_url="/api/timeline/attachments/{id}/content",
        vitals=vitals,
        summary=summary,
        medications=medications,
    )
