"""The hot reads of posts without the ORM: a board's page (a subject's timeline or a group's board) and the
feed (my subjects and groups with their latest post).

A page costs two statements on the driver's connection, outside any transaction (``yui_common.db``'s
``DriverConnection``): one authorization statement (deny list, care team or group membership, support
stopped), and one for the page with its attachments and counts that also appends the reading's audit entry
(``yui_common.audit.counted_entry_cte``). Two round trips (issue 13: at most five). Rows stay plain rows and the
JSON is built once from them, in ``PostPage``'s field order and with pydantic's own serializer, so the bytes
are those the ORM path's models produced (perf2); ``PostPage`` still documents the answer. The feed is the
token's deny-list check (``CurrentPrincipal``: its care teams and groups are in its own statement), one
statement for the boards and their latest posts, the audit entries, BEGIN and COMMIT: five as well.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Depends, Request
from pydantic_core import to_json
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Authenticated, Principal, authenticate, revoked_token
from yui_common.db import DriverConnection
from yui_common.problems import Problem, not_found

from timeline.access import repository as access_repository
from timeline.access.service import Board, record_audit, support_stopped
from timeline.people import person_json
from timeline.posts import repository
from timeline.posts.schemas import REFERENCE_NOTICE

Verified = Annotated[Authenticated, Depends(authenticate)]
_EPOCH = datetime.min.replace(tzinfo=UTC)


def encode_cursor(created_at: datetime, post_id: UUID | str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{post_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        created, ident = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        # In UTC: a time at the edge of the range in another zone (0001-01-01T00:00+14:00) fails here, as a
        # bad cursor, rather than in the driver's encoder.
        at = datetime.fromisoformat(created)
        return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)), UUID(ident)
    except (ValueError, UnicodeDecodeError, OverflowError) as exc:
        raise Problem(400, "bad-cursor", "Bad cursor", "The page cursor is not valid.") from exc


async def reach_board(connection: asyncpg.Connection, authenticated: Authenticated, board: Board) -> Board:
    """The board when the token is not revoked and its holder may read it; else 401, 404 or 410, in the order
    the ORM path refused them (deny list first, then need to know, then support stopped)."""
    principal = authenticated.principal
    revoked, reachable, stopped_at = await access_repository.board_authorization(
        connection,
        tenant=principal.tenant,
        user_id=principal.user_id,
        facility_id=principal.facility_id,
        session_id=principal.session_id,
        cert_fingerprint=principal.cert_fingerprint,
        issued_at=authenticated.issued_at,
        subject_id=board.subject_id,
        group_id=board.group_id,
    )
    if revoked is not None:
        raise revoked_token(revoked)
    if not reachable:
        raise not_found("subject" if board.subject_id is not None else "group")
    if stopped_at is not None:
        raise support_stopped()
    return board


async def reached_subject_board(
    subject_id: UUID, request: Request, authenticated: Verified, connection: DriverConnection
) -> Board:
    """The subject's timeline named in the path, once the caller may read it (the page's dependency)."""
    board = await reach_board(
        connection, authenticated, Board(authenticated.principal.tenant, subject_id=subject_id)
    )
    request.state.principal = authenticated.principal
    return board


async def reached_group_board(
    group_id: UUID, request: Request, authenticated: Verified, connection: DriverConnection
) -> Board:
    """The group named in the path, once the caller is a member (the group board's dependency)."""
    board = await reach_board(
        connection, authenticated, Board(authenticated.principal.tenant, group_id=group_id)
    )
    request.state.principal = authenticated.principal
    return board


async def read_page(
    connection: asyncpg.Connection, *, principal: Principal, board: Board, limit: int, cursor: str | None
) -> bytes:
    """One page of threads of a reached board, newest first (keyset), as the JSON of ``PostPage``; the same
    statement appends the reading's audit entry."""
    return to_json(await _page(connection, principal=principal, board=board, limit=limit, cursor=cursor))


async def read_conversation(
    connection: asyncpg.Connection, *, principal: Principal, board: Board, limit: int, cursor: str | None
) -> bytes:
    """The staff UI's conversation page in one call, as the JSON of ``ConversationPage``: the page of threads
    and whom a post may mention, each read (and audited) as its own route reads it. Three statements in all."""
    page = await _page(connection, principal=principal, board=board, limit=limit, cursor=cursor)
    people = await _mention_candidates(connection, principal=principal, board=board)
    return to_json({"page": page, "mention_candidates": people})


async def read_mention_candidates(
    connection: asyncpg.Connection, *, principal: Principal, board: Board
) -> bytes:
    """Whom a post on a reached board may mention, as the JSON of ``MentionCandidates``; audited in the same
    statement."""
    return to_json({"items": await _mention_candidates(connection, principal=principal, board=board)})


async def _mention_candidates(
    connection: asyncpg.Connection, *, principal: Principal, board: Board
) -> list[dict[str, Any]]:
    """The care team or the group's members but the reader, each as ``PersonRef``'s JSON, by kana (else name),
    the unknown last; ties by id."""
    rows = await repository.audited_mention_candidates(
        connection,
        principal=principal,
        subject_id=board.subject_id,
        group_id=board.group_id,
        target=board.target,
    )
    people = [person_json(user_id, record) for user_id, record in rows]
    people.sort(key=lambda p: (p["status"] == "unknown", p["name_kana"] or p["name"], p["id"]))
    return people


async def _page(
    connection: asyncpg.Connection, *, principal: Principal, board: Board, limit: int, cursor: str | None
) -> dict[str, Any]:
    before = decode_cursor(cursor) if cursor else None
    rows = await repository.audited_page_rows(
        connection,
        principal=principal,
        subject_id=board.subject_id,
        group_id=board.group_id,
        target=board.target,
        limit=limit,
        before=before,
    )
    last = rows[-1] if len(rows) == limit else None
    me = str(principal.user_id)
    items = [post_json(row, me) for row in rows]
    return {
        "items": items,
        "next_cursor": encode_cursor(last["created_at"], last["id"]) if last is not None else None,
        "reference_notice": REFERENCE_NOTICE,
        "first_unread_post_id": next(
            (
                item["id"]
                for item in reversed(items)
                if item["unread"] or any(reply["unread"] for reply in item["recent_replies"])
            ),
            None,
        ),
    }


async def read_feed(session: AsyncSession, *, principal: Principal) -> bytes:
    """My subjects and groups with their latest post and my unread count, most recent activity first, as the
    JSON of ``Feed``; each subject's reading is audited."""
    rows = await repository.feed_rows(session, tenant=principal.tenant, user_id=principal.user_id)
    me = str(principal.user_id)
    items = []
    for row in rows:
        board = (
            Board(principal.tenant, subject_id=row.board_id)
            if row.kind == "subject"
            else Board(principal.tenant, group_id=row.board_id)
        )
        if row.kind == "subject":
            await record_audit(session, principal, "feed.read", board, unread=row.unread)
        items.append(
            (
                row.created_at or _EPOCH,
                {
                    "subject_id": str(board.subject_id) if board.subject_id else None,
                    "group_id": str(board.group_id) if board.group_id else None,
                    "latest_post": post_json(row[3:], me) if row.id is not None else None,
                    "unread_count": row.unread,
                },
            )
        )
    items.sort(key=lambda item: item[0], reverse=True)  # stable: boards of one moment keep their order
    return to_json(
        {
            "items": [item for _, item in items],
            "total_unread": sum(row.unread for row in rows),
            "reference_notice": REFERENCE_NOTICE,
        }
    )


def post_json(row: Sequence[Any], me: str) -> dict[str, Any]:
    """A post's columns in the order ``repository._POST_COLUMNS`` then ``_POST_EXTRAS`` name them, as
    ``PostRead`` (same fields, same order) for the reader ``me``: a deleted post shows no body, mentions or
    attachments. Unpacked by position: a Row's attribute lookups cost more than the rest of this function."""
    (
        ident,
        subject_id,
        group_id,
        parent_id,
        author_id,
        facility_id,
        category,
        body,
        version,
        mentioned_user_ids,
        created_at,
        updated_at,
        deleted_at,
        deleted_by,
        addressed_user_id,
        addressed_facility_id,
        request_status,
        request_updated_at,
        reply_count,
        read_count,
        read_by_me,
        attachments,
        author,
        mentioned,
        read_by,
        recent_replies,
        reply_attachments,
        addressee,
        addressed_facility_name,
    ) = row
    deleted = deleted_at is not None
    attachments_of_replies: dict[str, list[dict[str, Any]]] = {}
    for record in reply_attachments or ():
        attachments_of_replies.setdefault(record[1], []).append(_attachment_json(record))
    return {
        "id": ident,
        "subject_id": subject_id,
        "group_id": group_id,
        "parent_id": parent_id,
        "author_id": author_id,
        "author": person_json(author_id, author),
        "facility_id": facility_id,
        "category": category,
        "body": None if deleted else body,
        "version": version,
        "mentioned_user_ids": [] if deleted else list(mentioned_user_ids),
        "mentioned": [person_json(m[0], None if m[1] is None else m[1:]) for m in mentioned or ()],
        "created_at": created_at,
        "updated_at": updated_at,
        "deleted_at": deleted_at,
        "deleted_by": deleted_by,
        "attachments": [_attachment_json(a) for a in attachments or ()],
        "reply_count": reply_count,
        "read_count": read_count,
        "read_by_me": read_by_me,
        "unread": not deleted and not read_by_me and author_id != me,
        "read_by": [
            {
                "user_id": mark[0],
                "reader": person_json(mark[0], None if mark[2] is None else mark[2:]),
                "read_at": mark[1],
            }
            for mark in read_by or ()
        ],
        "recent_replies": [_reply_json(reply, attachments_of_replies, me) for reply in recent_replies or ()],
        "support_request": {
            "addressed_user_id": addressed_user_id,
            "addressee": person_json(addressed_user_id, addressee) if addressed_user_id else None,
            "addressed_facility_id": addressed_facility_id,
            "addressed_facility_name": addressed_facility_name,
            "status": request_status,
            "updated_at": request_updated_at,
        }
        if request_status
        else None,
    }


def _reply_json(
    record: Sequence[Any], attachments_of_replies: dict[str, list[dict[str, Any]]], me: str
) -> dict[str, Any]:
    """A reply record of the page statement as ``ReplySummary``."""
    ident, author_id, category, body, version, created_at, updated_at, read_by_me = record[:8]
    return {
        "id": ident,
        "author_id": author_id,
        "author": person_json(author_id, None if record[8] is None else record[8:]),
        "category": category,
        "body": body,
        "version": version,
        "created_at": created_at,
        "updated_at": updated_at,
        "attachments": attachments_of_replies.get(ident, []),
        "read_by_me": read_by_me,
        "unread": not read_by_me and author_id != me,
    }


def _attachment_json(record: tuple[Any, ...]) -> dict[str, Any]:
    """An attachment record of the page statement as ``AttachmentRead``."""
    ident, post_id, filename, content_type, size, sha256, signature, created_at, has_thumbnail = record
    return {
        "id": ident,
        "post_id": post_id,
        "filename": filename,
        "content_type": content_type,
        "size": size,
        "content_sha256": sha256,
        "signature": signature,
        "created_at": created_at,
        "has_thumbnail": has_thumbnail,
    }
