"""Timeline use cases: need to know, posts and threads, versions and signatures, read marks, support requests,
attachments, groups, search, erasure and the withdrawal cascade. Never commits."""

from __future__ import annotations

import base64
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import audit, outbox
from yui_common.auth import Principal
from yui_common.events.consent import ConsentWithdrawnV1
from yui_common.events.timeline import (
    GroupMemberInvitedV1,
    GroupMemberJoinedV1,
    GroupMemberLeftV1,
    GroupPostCreatedV1,
    PostCreatedV1,
    ReplyCreatedV1,
    SupportRequestAnsweredV1,
    SupportRequestDecidedV1,
    SupportRequestedV1,
    TimelineSupportStoppedV1,
    UserMentionedV1,
)
from yui_common.problems import Problem, not_found
from yui_common.storage import ObjectStore

from timeline import content_types, objects, repository
from timeline.internal_events import SupportStopRequestedV1
from timeline.models import Attachment, Group, GroupMember, Post, PostVersion, ReadMark, SubjectAccess
from timeline.settings import Settings
from timeline.signing import ContentSigner, canonical_sha256

SUPPORT_STOPPED = "support-stopped"
OPERATOR_ROLES = frozenset({"operator", "contractor"})


# --- boards and who may reach them --------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    """Where posts live: one subject's timeline or one group."""

    tenant: str
    subject_id: UUID | None = None
    group_id: UUID | None = None

    @property
    def target(self) -> str:
        return f"subject:{self.subject_id}" if self.subject_id else f"group:{self.group_id}"

    @property
    def object_prefix(self) -> str:
        return (
            f"{self.tenant}/{'subjects' if self.subject_id else 'groups'}/{self.subject_id or self.group_id}/"
        )


def board_of(post: Post | Attachment) -> Board:
    return Board(tenant=post.tenant, subject_id=post.subject_id, group_id=post.group_id)


async def _authorize(session: AsyncSession, *, principal: Principal, subject_id: UUID) -> SubjectAccess:
    access = await repository.access_of(
        session, tenant=principal.tenant, subject_id=subject_id, user_id=principal.user_id
    )
    if access is None:
        raise not_found("subject")
    return access


def _support_stopped() -> Problem:
    return Problem(
        410,
        SUPPORT_STOPPED,
        "Support stopped",
        "Consent was withdrawn; this subject's information is no longer shared (支援中止).",
    )


def _consent_required() -> Problem:
    return Problem(
        409,
        "consent-required",
        "Consent required",
        "Nothing is shared about a subject before an active consent is recorded.",
    )


async def subject_board(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, write: bool = False
) -> Board:
    access = await _authorize(session, principal=principal, subject_id=subject_id)
    if access.support_stopped_at is not None:
        raise _support_stopped()
    if write and not access.consent_active:
        raise _consent_required()
    return Board(tenant=principal.tenant, subject_id=subject_id)


async def group_board(session: AsyncSession, *, principal: Principal, group_id: UUID) -> Board:
    membership = await repository.group_membership(
        session, tenant=principal.tenant, group_id=group_id, user_id=principal.user_id
    )
    if membership is None or membership[1].status != "member":
        raise not_found("group")
    return Board(tenant=principal.tenant, group_id=group_id)


async def _board_for(
    session: AsyncSession, principal: Principal, board: Board, *, write: bool = False
) -> Board:
    if board.subject_id is not None:
        return await subject_board(session, principal=principal, subject_id=board.subject_id, write=write)
    assert board.group_id is not None
    return await group_board(session, principal=principal, group_id=board.group_id)


def _addressed_to(post: Post, principal: Principal) -> bool:
    return post.request_status is not None and (
        post.addressed_user_id == principal.user_id
        or (post.addressed_facility_id is not None and post.addressed_facility_id == principal.facility_id)
    )


async def _reach_post(
    session: AsyncSession, *, principal: Principal, post_id: UUID, write: bool = False, lock: bool = False
) -> tuple[Post, Post]:
    """The post and its thread's first post, when the caller may see them: a member of the board, or the
    addressee of the support request that opened the thread (T2). Anyone else: 404."""
    post = await repository.post_by_id(session, tenant=principal.tenant, post_id=post_id, lock=lock)
    if post is None:
        raise not_found("post")
    root = post
    if post.parent_id is not None:
        root = await repository.post_by_id(session, tenant=principal.tenant, post_id=post.parent_id) or post
    try:
        await _board_for(session, principal, board_of(post), write=write)
    except Problem as refused:
        if refused.status != 404 or not _addressed_to(root, principal):
            raise
        access = (
            await repository.subject_access(session, subject_id=post.subject_id) if post.subject_id else None
        )
        if access is not None and access.support_stopped_at is not None:
            raise _support_stopped() from None
    if post.support_stopped_at is not None:
        raise _support_stopped()
    return post, root


async def _audit(
    session: AsyncSession, principal: Principal, action: str, board: Board | None, **detail: object
) -> None:
    await audit.record_by(
        session,
        principal,
        action=action,
        subject_id=board.subject_id if board else None,
        target=board.target if board else None,
        detail=dict(detail),
    )


def _is_operator(principal: Principal) -> bool:
    return bool(OPERATOR_ROLES & principal.roles)


# --- content hashes and signatures (T5) --------------------------------------------------------------------


def search_key(text: str) -> str:
    """What search compares: NFKC (full/half width alike), case-folded, katakana folded to hiragana."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(chr(ord(ch) - 0x60) if "ァ" <= ch <= "ヶ" else ch for ch in folded)


def version_content(post: Post, version: PostVersion, attachments: Sequence[Attachment]) -> dict[str, object]:
    by_id = {a.id: a for a in attachments}
    return {
        "post_id": str(post.id),
        "version": version.version,
        "subject_id": str(post.subject_id) if post.subject_id else None,
        "group_id": str(post.group_id) if post.group_id else None,
        "parent_id": str(post.parent_id) if post.parent_id else None,
        "category": version.category,
        "body": version.body,
        "mentioned_user_ids": sorted(str(u) for u in post.mentioned_user_ids),
        "attachments": sorted(
            [str(a), by_id[a].content_sha256 if a in by_id else None] for a in version.attachment_ids
        ),
    }


def _new_version(
    signer: ContentSigner,
    post: Post,
    *,
    number: int,
    author_id: UUID,
    category: str,
    body: str,
    attachments: Sequence[Attachment],
    at: datetime,
) -> PostVersion:
    version = PostVersion(
        post_id=post.id,
        version=number,
        author_id=author_id,
        category=category,
        body=body,
        attachment_ids=[a.id for a in attachments],
        created_at=at,
    )
    version.content_sha256 = canonical_sha256(version_content(post, version, attachments))
    version.signature = signer.sign(version.content_sha256, author_id, at)
    return version


# --- writing posts ------------------------------------------------------------------------------------------


async def _check_mentions(session: AsyncSession, board: Board, mentions: Sequence[UUID]) -> list[UUID]:
    wanted = list(dict.fromkeys(mentions))
    if not wanted:
        return []
    if board.subject_id is not None:
        known = await repository.team_members_among(session, subject_id=board.subject_id, user_ids=wanted)
    else:
        assert board.group_id is not None
        known = await repository.group_members_among(session, group_id=board.group_id, user_ids=wanted)
    if set(wanted) - known:
        raise Problem(
            422,
            "unknown-mention",
            "Unknown mention",
            "Only members of this care team or group can be mentioned.",
        )
    return wanted


async def _pending_uploads(
    session: AsyncSession, principal: Principal, board: Board, attachment_ids: Sequence[UUID]
) -> list[Attachment]:
    wanted = list(dict.fromkeys(attachment_ids))
    if not wanted:
        return []
    found = await repository.pending_attachments(
        session,
        attachment_ids=wanted,
        uploaded_by=principal.user_id,
        subject_id=board.subject_id,
        group_id=board.group_id,
    )
    if len(found) != len(wanted):
        raise Problem(
            422,
            "unknown-attachment",
            "Unknown attachment",
            "Attach only your own uploads to this board that are not attached yet.",
        )
    return list(found)


async def _write_post(
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
    attachments = await _pending_uploads(session, principal, board, attachment_ids)
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
        _new_version(
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
        await repository.attach(session, attachment_ids=[a.id for a in attachments], post_id=post.id)
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
    board = await _board_for(session, principal, board, write=True)
    if (addressed_user_id or addressed_facility_id) and board.subject_id is None:
        raise Problem(
            422,
            "support-request-needs-subject",
            "Support requests are about a subject",
            "A support request is posted on a subject's timeline.",
        )
    post = await _write_post(
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
        assert board.subject_id is not None
        await outbox.add_event(
            session,
            SupportRequestedV1(
                subject_id=board.subject_id,
                post_id=post.id,
                author_id=principal.user_id,
                addressed_user_id=addressed_user_id,
                addressed_facility_id=addressed_facility_id,
            ),
            tenant=principal.tenant,
            subject=str(board.subject_id),
        )
    await _audit(session, principal, "post.create", board, post=post.id)
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
    _, root = await _reach_post(session, principal=principal, post_id=post_id)
    root = await repository.post_by_id(session, tenant=principal.tenant, post_id=root.id, lock=True) or root
    if root.deleted_at is not None:
        raise Problem(409, "post-deleted", "Post deleted", "A deleted post takes no replies.")
    board = board_of(root)
    answering = _addressed_to(root, principal) and root.request_status in {"open", "answered"}
    if not answering:
        await _board_for(session, principal, board, write=True)
    elif attachment_ids:
        raise Problem(
            422,
            "unknown-attachment",
            "Unknown attachment",
            "An addressee who is not on the care team answers in text.",
        )
    created = await _write_post(
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
    if answering and root.request_status == "open":
        root.request_status = "answered"
        root.request_updated_at = created.created_at
        assert root.subject_id is not None
        await outbox.add_event(
            session,
            SupportRequestAnsweredV1(
                subject_id=root.subject_id,
                post_id=root.id,
                answer_post_id=created.id,
                answered_by=principal.user_id,
                requester_id=root.author_id,
            ),
            tenant=principal.tenant,
            subject=str(root.subject_id),
        )
    await _audit(session, principal, "post.reply", board, post=created.id, parent=root.id)
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
    post, _ = await _reach_post(session, principal=principal, post_id=post_id, lock=True)
    if post.author_id != principal.user_id:
        raise Problem(403, "not-author", "Only the author edits", "Only the author can edit a post.")
    if post.deleted_at is not None:
        raise Problem(409, "post-deleted", "Post deleted", "A deleted post cannot be edited.")
    previous = (await repository.versions_of(session, post_id=post.id))[-1]
    attachments = await repository.attachments_by_ids(session, attachment_ids=previous.attachment_ids)
    now = datetime.now(UTC)
    number = post.version + 1
    category = category or post.category
    session.add(
        _new_version(
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
    await _audit(session, principal, "post.edit", board_of(post), post=post.id, version=number)
    return post


async def delete_post(session: AsyncSession, *, principal: Principal, post_id: UUID) -> Post:
    """A tombstone: the post stays in place, its content hidden from all; its versions stay as history."""
    post = await repository.post_by_id(session, tenant=principal.tenant, post_id=post_id, lock=True)
    if post is None:
        raise not_found("post")
    if not _is_operator(principal):
        post, _ = await _reach_post(session, principal=principal, post_id=post_id, lock=True)
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
    await _audit(
        session,
        principal,
        "post.delete",
        board_of(post),
        post=post.id,
        by_operator=_is_operator(principal) and post.author_id != principal.user_id,
    )
    return post


async def decide_support_request(
    session: AsyncSession, *, principal: Principal, post_id: UUID, decision: str
) -> Post:
    post, _ = await _reach_post(session, principal=principal, post_id=post_id, lock=True)
    if post.request_status is None or post.author_id != principal.user_id:
        raise not_found("support request")
    if post.request_status != "answered":
        raise Problem(
            409,
            "request-not-answered",
            "Not answered",
            f"Only an answered request can be adopted or declined (it is {post.request_status}).",
        )
    post.request_status = decision
    post.request_updated_at = datetime.now(UTC)
    assert post.subject_id is not None
    await outbox.add_event(
        session,
        SupportRequestDecidedV1(
            subject_id=post.subject_id,
            post_id=post.id,
            decision=decision,
            decided_by=principal.user_id,
            addressed_user_id=post.addressed_user_id,
            addressed_facility_id=post.addressed_facility_id,
        ),
        tenant=principal.tenant,
        subject=str(post.subject_id),
    )
    await _audit(session, principal, f"support_request.{decision}", board_of(post), post=post.id)
    return post


async def support_requests(session: AsyncSession, *, principal: Principal, sent: bool) -> list[Post]:
    posts = list(
        await repository.support_requests_for(
            session,
            tenant=principal.tenant,
            user_id=principal.user_id,
            facility_id=principal.facility_id,
            sent=sent,
        )
    )
    for subject_id in dict.fromkeys(p.subject_id for p in posts):
        await _audit(
            session, principal, "support_request.list", Board(principal.tenant, subject_id=subject_id)
        )
    return posts


# --- reading posts ------------------------------------------------------------------------------------------


@dataclass
class PostView:
    """A post with what the reader sees beside it."""

    post: Post
    attachments: list[Attachment]
    reply_count: int = 0
    read_count: int = 0
    read_by_me: bool = False


async def views_of(session: AsyncSession, principal: Principal, posts: Sequence[Post]) -> list[PostView]:
    ids = [p.id for p in posts]
    attachments = await repository.attachments_of_posts(session, post_ids=ids)
    summaries = await repository.post_summaries(session, post_ids=ids, user_id=principal.user_id)
    by_post: dict[UUID, list[Attachment]] = {}
    for attachment in attachments:
        by_post.setdefault(attachment.post_id, []).append(attachment)  # type: ignore[arg-type]
    return [
        PostView(
            post=p,
            attachments=by_post.get(p.id, []) if p.deleted_at is None else [],
            reply_count=summaries.get(p.id, (0, 0, False))[0],
            read_count=summaries.get(p.id, (0, 0, False))[1],
            read_by_me=summaries.get(p.id, (0, 0, False))[2],
        )
        for p in posts
    ]


def encode_cursor(post: Post) -> str:
    return base64.urlsafe_b64encode(f"{post.created_at.isoformat()}|{post.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        created, ident = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), UUID(ident)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "bad-cursor", "Bad cursor", "The page cursor is not valid.") from exc


async def list_posts(
    session: AsyncSession, *, principal: Principal, board: Board, limit: int, cursor: str | None
) -> tuple[list[PostView], str | None]:
    """One page of threads, newest first (keyset); each with its attachments, replies and read counts."""
    board = await _board_for(session, principal, board)
    posts = list(
        await repository.posts_page(
            session,
            subject_id=board.subject_id,
            group_id=board.group_id,
            limit=limit,
            before=decode_cursor(cursor) if cursor else None,
        )
    )
    views = await views_of(session, principal, posts)
    await _audit(session, principal, "post.list", board, count=len(posts))
    return views, encode_cursor(posts[-1]) if len(posts) == limit else None


@dataclass
class Thread:
    view: PostView
    replies: list[PostView]
    read_by: list[ReadMark]


async def open_post(session: AsyncSession, *, principal: Principal, post_id: UUID) -> Thread:
    """The post with its replies and who read it; opening marks the post and its replies read (t8)."""
    post, _ = await _reach_post(session, principal=principal, post_id=post_id)
    replies = list(await repository.replies_of(session, post_id=post.id)) if post.parent_id is None else []
    unread = [p.id for p in [post, *replies] if p.author_id != principal.user_id and p.deleted_at is None]
    await repository.mark_read(session, post_ids=unread, user_id=principal.user_id)
    views = await views_of(session, principal, [post, *replies])
    read_by = list(await repository.read_marks_of(session, post_id=post.id))
    await _audit(session, principal, "post.read", board_of(post), post=post.id)
    return Thread(view=views[0], replies=views[1:], read_by=read_by)


async def read_marks(session: AsyncSession, *, principal: Principal, post_id: UUID) -> list[ReadMark]:
    post, _ = await _reach_post(session, principal=principal, post_id=post_id)
    marks = list(await repository.read_marks_of(session, post_id=post.id))
    await _audit(session, principal, "post.read_marks", board_of(post), post=post.id)
    return marks


async def post_versions(session: AsyncSession, *, principal: Principal, post_id: UUID) -> list[PostVersion]:
    post, _ = await _reach_post(session, principal=principal, post_id=post_id)
    if post.deleted_at is not None:
        raise Problem(
            410, "post-deleted", "Post deleted", "The post was deleted; only its tombstone is shown."
        )
    versions = list(await repository.versions_of(session, post_id=post.id))
    await _audit(session, principal, "post.versions", board_of(post), post=post.id)
    return versions


@dataclass
class Verification:
    post_id: UUID
    current_row_matches_latest_version: bool
    versions: list[tuple[int, bool, bool]]
    attachments: list[tuple[UUID, bool, bool]]

    @property
    def intact(self) -> bool:
        return (
            self.current_row_matches_latest_version
            and all(h and s for _, h, s in self.versions)
            and all(s and o for _, s, o in self.attachments)
        )


async def verify_post(
    session: AsyncSession, *, principal: Principal, signer: ContentSigner, store: ObjectStore, post_id: UUID
) -> Verification:
    """Recompute every version's hash from the stored rows and check the service's signatures; re-hash each
    attachment's stored object. A row or object changed outside Yui shows as a mismatch."""
    post, _ = await _reach_post(session, principal=principal, post_id=post_id)
    versions = list(await repository.versions_of(session, post_id=post.id))
    attachment_ids = list(dict.fromkeys(a for v in versions for a in v.attachment_ids))
    attachments = list(await repository.attachments_by_ids(session, attachment_ids=attachment_ids))
    checked_versions = []
    for version in versions:
        recomputed = canonical_sha256(version_content(post, version, attachments))
        checked_versions.append(
            (
                version.version,
                recomputed == version.content_sha256,
                signer.verify(
                    version.signature, version.content_sha256, version.author_id, version.created_at
                ),
            )
        )
    latest = versions[-1] if versions else None
    row_matches = latest is not None and (
        latest.version == post.version and latest.body == post.body and latest.category == post.category
    )
    checked_attachments = []
    for attachment in attachments:
        stored = await objects.object_sha256(store, attachment.object_key)
        checked_attachments.append(
            (
                attachment.id,
                signer.verify(
                    attachment.signature,
                    attachment.content_sha256,
                    attachment.uploaded_by,
                    attachment.created_at,
                ),
                stored == attachment.content_sha256,
            )
        )
    result = Verification(post.id, row_matches, checked_versions, checked_attachments)
    await _audit(session, principal, "post.verify", board_of(post), post=post.id, intact=result.intact)
    return result


async def feed(session: AsyncSession, *, principal: Principal) -> list[tuple[Board, PostView | None, int]]:
    """My subjects and groups with their latest post and my unread count, most recent activity first."""
    rows = await repository.feed(session, tenant=principal.tenant, user_id=principal.user_id)
    latest = await repository.posts_by_ids(session, post_ids=[r[2] for r in rows if r[2] is not None])
    views = {v.post.id: v for v in await views_of(session, principal, list(latest.values()))}
    items = []
    for kind, board_id, latest_id, unread in rows:
        board = (
            Board(principal.tenant, subject_id=board_id)
            if kind == "subject"
            else Board(principal.tenant, group_id=board_id)
        )
        items.append((board, views.get(latest_id) if latest_id else None, unread))
        if kind == "subject":
            await _audit(session, principal, "feed.read", board, unread=unread)
    epoch = datetime.min.replace(tzinfo=UTC)
    items.sort(key=lambda item: item[1].post.created_at if item[1] else epoch, reverse=True)
    return items


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
        groups = await repository.my_group_ids(session, tenant=principal.tenant, user_id=principal.user_id)
        posts = await repository.search_posts(session, normalised_query=normalised, group_ids=groups)
    await _audit(session, principal, "post.search", board, count=len(posts))
    return await views_of(session, principal, posts)


# --- attachments (t7) ---------------------------------------------------------------------------------------


async def upload_attachment(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    store: ObjectStore,
    settings: Settings,
    board: Board,
    filename: str,
    declared_length: int | None,
    chunks: AsyncIterator[bytes],
) -> Attachment:
    """Check, then stream to object storage: never the whole file in memory, nothing stored when refused."""
    board = await _board_for(session, principal, board, write=True)
    limit = settings.policy_for(principal.tenant).max_upload_bytes
    clean_name = content_types.clean_filename(filename)
    if clean_name is None:
        raise Problem(
            422,
            "bad-filename",
            "Bad file name",
            "The file name must be a plain name: no folders, '..', control or hidden characters.",
        )
    if declared_length is not None and declared_length > limit:
        raise _too_large(limit)
    head = b""
    async for chunk in chunks:
        head += chunk
        if len(head) >= content_types.SNIFF_BYTES:
            break
    content_type = content_types.sniff(head)
    if not head:
        raise Problem(422, "empty-file", "Empty file", "The upload has no content.")
    if content_type is None:
        raise Problem(
            415,
            "unsupported-content",
            "File type not allowed",
            "Only images, PDF, office documents and common video formats can be attached; the type is "
            "recognised from the content, not the name.",
        )
    attachment_id = uuid7()
    key = f"{board.object_prefix}{attachment_id}"
    stream = objects.UploadStream(limit)
    try:
        await objects.put_streaming(store, key, stream.blocks(head, chunks), content_type=content_type)
    except objects.UploadTooLargeError:
        await objects.remove_objects(store, [key])
        raise _too_large(limit) from None
    except Exception:
        await objects.remove_objects(store, [key])
        raise
    # From here on, whatever stops this transaction from committing takes the stored bytes with it.
    objects.remove_unless_committed(session, store, key)
    now = datetime.now(UTC)
    digest = stream.sha256.hexdigest()
    thumbnail_key = None
    if content_types.is_image(content_type) and await objects.make_thumbnail(
        store, key, f"{key}.thumb.jpg", max_px=settings.thumbnail_max_px
    ):
        thumbnail_key = f"{key}.thumb.jpg"
        objects.remove_unless_committed(session, store, thumbnail_key)
    attachment = Attachment(
        id=attachment_id,
        tenant=principal.tenant,
        subject_id=board.subject_id,
        group_id=board.group_id,
        uploaded_by=principal.user_id,
        filename=clean_name,
        content_type=content_type,
        size=stream.size,
        object_key=key,
        thumbnail_key=thumbnail_key,
        content_sha256=digest,
        signature=signer.sign(digest, principal.user_id, now),
        created_at=now,
    )
    session.add(attachment)
    await session.flush()
    await _audit(
        session,
        principal,
        "attachment.upload",
        board,
        attachment=attachment.id,
        size=stream.size,
        content_type=content_type,
    )
    return attachment


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "payload-too-large",
        "File too large",
        f"This network accepts attachments up to {limit} bytes.",
        max_bytes=limit,
    )


async def reach_attachment(session: AsyncSession, *, principal: Principal, attachment_id: UUID) -> Attachment:
    attachment = await repository.attachment_by_id(
        session, tenant=principal.tenant, attachment_id=attachment_id
    )
    if attachment is None:
        raise not_found("attachment")
    if attachment.post_id is None:
        if attachment.uploaded_by != principal.user_id:
            raise not_found("attachment")
        await _board_for(session, principal, board_of(attachment))
    else:
        post, _ = await _reach_post(session, principal=principal, post_id=attachment.post_id)
        if post.deleted_at is not None:
            raise not_found("attachment")
    return attachment


async def attachment_for_download(
    session: AsyncSession, *, principal: Principal, attachment_id: UUID, thumbnail: bool = False
) -> Attachment:
    attachment = await reach_attachment(session, principal=principal, attachment_id=attachment_id)
    if thumbnail and attachment.thumbnail_key is None:
        raise not_found("thumbnail")
    await _audit(
        session,
        principal,
        "attachment.download",
        board_of(attachment),
        attachment=attachment.id,
        thumbnail=thumbnail,
    )
    return attachment


async def download_link(
    session: AsyncSession,
    *,
    principal: Principal,
    store: ObjectStore,
    settings: Settings,
    attachment_id: UUID,
) -> tuple[str, datetime]:
    """A presigned URL valid for this one object and a few minutes (after the need-to-know check)."""
    from urllib.parse import quote

    attachment = await attachment_for_download(session, principal=principal, attachment_id=attachment_id)
    ttl = timedelta(seconds=settings.download_url_ttl_s)
    url = await store.presigned_get(
        attachment.object_key, expires=ttl, filename=quote(attachment.filename, safe="")
    )
    return url, datetime.now(UTC) + ttl


# --- groups (T6) --------------------------------------------------------------------------------------------


async def create_group(
    session: AsyncSession, *, principal: Principal, name: str, purpose: str, description: str
) -> Group:
    group = Group(
        id=uuid7(),
        tenant=principal.tenant,
        name=name,
        purpose=purpose,
        description=description,
        created_by=principal.user_id,
    )
    session.add(group)
    session.add(
        GroupMember(
            group_id=group.id,
            user_id=principal.user_id,
            status="member",
            invited_by=None,
            joined_at=datetime.now(UTC),
        )
    )
    await session.flush()
    await session.refresh(group)
    await _audit(session, principal, "group.create", Board(principal.tenant, group_id=group.id))
    return group


async def my_groups(session: AsyncSession, *, principal: Principal) -> list[tuple[Group, str]]:
    return list(await repository.my_groups(session, tenant=principal.tenant, user_id=principal.user_id))


async def get_group(session: AsyncSession, *, principal: Principal, group_id: UUID) -> tuple[Group, str]:
    membership = await repository.group_membership(
        session, tenant=principal.tenant, group_id=group_id, user_id=principal.user_id
    )
    if membership is None:
        raise not_found("group")
    return membership[0], membership[1].status


async def group_members(session: AsyncSession, *, principal: Principal, group_id: UUID) -> list[GroupMember]:
    board = await group_board(session, principal=principal, group_id=group_id)
    members = list(await repository.group_members(session, group_id=group_id))
    await _audit(session, principal, "group.members", board)
    return members


async def invite_to_group(
    session: AsyncSession, *, principal: Principal, group_id: UUID, user_id: UUID
) -> None:
    board = await group_board(session, principal=principal, group_id=group_id)
    if await repository.invite(session, group_id=group_id, user_id=user_id, invited_by=principal.user_id):
        await outbox.add_event(
            session,
            GroupMemberInvitedV1(group_id=group_id, user_id=user_id, invited_by=principal.user_id),
            tenant=principal.tenant,
        )
    await _audit(session, principal, "group.invite", board, user=user_id)


async def accept_invitation(session: AsyncSession, *, principal: Principal, group_id: UUID) -> None:
    membership = await repository.group_membership(
        session, tenant=principal.tenant, group_id=group_id, user_id=principal.user_id
    )
    if membership is None:
        raise not_found("invitation")
    member = membership[1]
    if member.status == "invited":
        member.status = "member"
        member.joined_at = datetime.now(UTC)
        await outbox.add_event(
            session,
            GroupMemberJoinedV1(group_id=group_id, user_id=principal.user_id),
            tenant=principal.tenant,
        )
        await _audit(session, principal, "group.join", Board(principal.tenant, group_id=group_id))


async def leave_group(session: AsyncSession, *, principal: Principal, group_id: UUID, user_id: UUID) -> None:
    """A member leaves (or declines an invitation); the group's creator may also remove a member."""
    group, _ = await get_group(session, principal=principal, group_id=group_id)
    if user_id != principal.user_id and group.created_by != principal.user_id:
        raise Problem(
            403,
            "not-group-owner",
            "Only the group's creator removes others",
            "Only the group's creator can remove another member.",
        )
    if await repository.remove_group_member(session, group_id=group_id, user_id=user_id):
        await outbox.add_event(
            session, GroupMemberLeftV1(group_id=group_id, user_id=user_id), tenant=principal.tenant
        )
    await _audit(session, principal, "group.leave", Board(principal.tenant, group_id=group_id), user=user_id)


# --- consent projection and the withdrawal cascade ---------------------------------------------------------


async def consent_given(session: AsyncSession, *, tenant: str, subject_id: UUID) -> None:
    await repository.upsert_access(
        session, tenant=tenant, subject_id=subject_id, consent_active=True, support_stopped_at=None
    )


async def care_team_member_added(
    session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID
) -> None:
    # Timeline learns of the subject with its team, so a member is told "consent required" (409), not 404.
    await repository.ensure_access(session, tenant=tenant, subject_id=subject_id)
    await repository.add_member(session, tenant=tenant, subject_id=subject_id, user_id=user_id)


async def care_team_member_removed(session: AsyncSession, *, subject_id: UUID, user_id: UUID) -> None:
    await repository.remove_member(session, subject_id=subject_id, user_id=user_id)


async def _erase(
    session: AsyncSession, store: ObjectStore | None, post_ids: Sequence[UUID]
) -> tuple[int, int, dict[str, int]]:
    keys, per_board = await repository.erase_posts(session, post_ids=post_ids)
    # Objects go first: if the transaction then fails, the event or job runs again and finds them gone
    # (removing a missing object is no error), so a replay is harmless and nothing is left behind.
    removed = await objects.remove_objects(store, keys) if store is not None and keys else 0
    return len(post_ids), removed, per_board


async def refuse_subject(session: AsyncSession, *, tenant: str, withdrawal: ConsentWithdrawnV1) -> None:
    """First step of a withdrawal, small and fast: from this commit every read and write of the subject is
    refused (the need-to-know check reads the access row). The bulk work follows in a transaction of its own
    (``stop_support``), through timeline's own queue, so a subject with 10,000 posts is refused as quickly as
    one with none, and the report back waits for the bulk work."""
    await repository.stop_access(
        session, tenant=tenant, subject_id=withdrawal.subject_id, at=datetime.now(UTC)
    )
    await outbox.add_event(
        session,
        SupportStopRequestedV1(withdrawal=withdrawal),
        tenant=tenant,
        subject=str(withdrawal.subject_id),
    )


async def stop_support(
    session: AsyncSession, *, tenant: str, withdrawal: ConsentWithdrawnV1, store: ObjectStore | None = None
) -> int:
    """Stop (or delete) everything timeline holds about the subject, and report back in the same commit."""
    # The moment the subject was refused (refuse_subject), not when this bulk step runs.
    now = await repository.stop_access(
        session, tenant=tenant, subject_id=withdrawal.subject_id, at=datetime.now(UTC)
    )
    objects_removed = 0
    if withdrawal.mode == "delete":
        post_ids = await repository.posts_to_erase(session, tenant=tenant, subject_id=withdrawal.subject_id)
        affected, objects_removed, _ = await _erase(session, store, post_ids)
        stray = await repository.erase_unattached_uploads(session, subject_id=withdrawal.subject_id)
        if store is not None and stray:
            objects_removed += await objects.remove_objects(store, stray)
    else:
        affected = await repository.stop_posts(session, subject_id=withdrawal.subject_id, at=now)
    await audit.record(
        session,
        tenant=tenant,
        actor_id="system:timeline",
        subject_id=str(withdrawal.subject_id),
        action="subject.support_stopped" if withdrawal.mode != "delete" else "subject.deleted",
        detail={"withdrawal": str(withdrawal.withdrawal_id), "posts": affected, "objects": objects_removed},
    )
    await outbox.add_event(
        session,
        TimelineSupportStoppedV1(
            subject_id=withdrawal.subject_id,
            withdrawal_id=withdrawal.withdrawal_id,
            items_affected=affected,
            completed_at=datetime.now(UTC),
        ),
        tenant=tenant,
        subject=str(withdrawal.subject_id),
    )
    return affected


# --- retention and the operator's erasure (T3) --------------------------------------------------------------


async def erase_by_operator(
    session: AsyncSession,
    *,
    principal: Principal,
    store: ObjectStore,
    subject_id: UUID | None,
    group_id: UUID | None,
    posted_from: datetime | None,
    posted_before: datetime | None,
) -> tuple[int, int]:
    if not _is_operator(principal):
        raise Problem(403, "operator-only", "Operator only", "Only the network's operator erases posts.")
    post_ids = await repository.posts_to_erase(
        session,
        tenant=principal.tenant,
        subject_id=subject_id,
        group_id=group_id,
        posted_from=posted_from,
        posted_before=posted_before,
    )
    removed, objects_removed, per_board = await _erase(session, store, post_ids)
    for board_key, count in per_board.items():
        kind, _, ident = board_key.partition(":")
        board = Board(principal.tenant, **{f"{kind}_id": UUID(ident)})  # type: ignore[arg-type]
        await _audit(
            session,
            principal,
            "post.erase",
            board,
            posts=count,
            posted_from=posted_from.isoformat() if posted_from else None,
            posted_before=posted_before.isoformat() if posted_before else None,
        )
    if not per_board:
        await _audit(session, principal, "post.erase", None, posts=0)
    return removed, objects_removed


async def apply_retention(
    session: AsyncSession,
    *,
    settings: Settings,
    store: ObjectStore | None,
    now: datetime | None = None,
    batch: int = 500,
) -> int:
    """Remove one batch of posts older than their network's retention (from the day of posting), with their
    objects, and audit it per subject or group. Returns how many were removed (call again while > 0)."""
    now = now or datetime.now(UTC)
    shortest = min(
        [p.retention_years for p in settings.network_policies.values()]
        + [settings.default_network_policy.retention_years]
    )
    removed = 0
    for tenant in await repository.tenants_with_posts_before(session, before=_years_before(now, shortest)):
        cutoff = _years_before(now, settings.policy_for(tenant).retention_years)
        post_ids = await repository.posts_to_erase(session, tenant=tenant, posted_before=cutoff, limit=batch)
        count, objects_removed, per_board = await _erase(session, store, post_ids)
        removed += count
        for board_key, posts in per_board.items():
            kind, _, ident = board_key.partition(":")
            await audit.record(
                session,
                tenant=tenant,
                actor_id="system:timeline-retention",
                subject_id=ident if kind == "subject" else None,
                target=board_key,
                action="post.retention_erase",
                detail={"posts": posts, "posted_before": cutoff.isoformat(), "objects": objects_removed},
            )
    stray = await repository.erase_unattached_uploads(session, older_than=now - timedelta(days=1))
    if store is not None and stray:
        await objects.remove_objects(store, stray)
    return removed


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


# --- FHIR export (t10) -------------------------------------------------------------------------------------


async def fhir_export(session: AsyncSession, *, principal: Principal, subject_id: UUID) -> dict[str, object]:
    from timeline import fhir

    board = await subject_board(session, principal=principal, subject_id=subject_id)
    posts = await repository.live_posts_of_subject(session, subject_id=subject_id)
    attachments = await repository.attachments_of_posts(session, post_ids=[p.id for p in posts])
    await _audit(
        session, principal, "post.export_fhir", board, posts=len(posts), attachments=len(attachments)
    )
    return fhir.bundle(
        subject_id, posts, attachments, attachment_url="/api/timeline/attachments/{id}/content"
    )
