"""Boards and who may reach them (the need-to-know check), the board's audit entry, and the consent projection
that feeds the check: consent given, care team changes, and the withdrawal's first step. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.auth import Principal
from yui_common.events.consent import ConsentWithdrawnV1
from yui_common.problems import Problem, not_found

from timeline.access import repository
from timeline.groups import repository as group_repository
from timeline.internal_events import SupportStopRequestedV1
from timeline.models import Attachment, Post, SubjectAccess
from timeline.posts import repository as post_repository

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


async def _authorize(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, hold: bool = False
) -> SubjectAccess:
    access = await repository.access_of(
        session, tenant=principal.tenant, subject_id=subject_id, user_id=principal.user_id, hold=hold
    )
    if access is None:
        raise not_found("subject")
    return access


def support_stopped() -> Problem:
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
    session: AsyncSession, *, principal: Principal, subject_id: UUID, write: bool = False, hold: bool = False
) -> Board:
    """The subject's timeline when the principal may reach it. ``hold``: this transaction adds to the timeline,
    so the subject's access row is held FOR SHARE until it commits and a withdrawal cannot pass it (C4, see
    ``timeline.access.repository``); reads never hold it."""
    access = await _authorize(session, principal=principal, subject_id=subject_id, hold=hold)
    if access.support_stopped_at is not None:
        raise support_stopped()
    if write and not access.consent_active:
        raise _consent_required()
    return Board(tenant=principal.tenant, subject_id=subject_id)


async def group_board(session: AsyncSession, *, principal: Principal, group_id: UUID) -> Board:
    membership = await group_repository.group_membership(
        session, tenant=principal.tenant, group_id=group_id, user_id=principal.user_id
    )
    if membership is None or membership[1].status != "member":
        raise not_found("group")
    return Board(tenant=principal.tenant, group_id=group_id)


async def board_for(
    session: AsyncSession, principal: Principal, board: Board, *, write: bool = False, hold: bool = False
) -> Board:
    """The board when the principal may reach it; ``hold`` as in ``subject_board`` (a group has no consent to
    withdraw, so its board holds nothing)."""
    if board.subject_id is not None:
        return await subject_board(
            session, principal=principal, subject_id=board.subject_id, write=write, hold=hold
        )
    assert board.group_id is not None
    return await group_board(session, principal=principal, group_id=board.group_id)


def addressed_to(post: Post, principal: Principal) -> bool:
    """Whether the post is a support request (T2) addressed to this user or their facility."""
    return post.request_status is not None and (
        post.addressed_user_id == principal.user_id
        or (post.addressed_facility_id is not None and post.addressed_facility_id == principal.facility_id)
    )


async def reach_post(
    session: AsyncSession,
    *,
    principal: Principal,
    post_id: UUID,
    write: bool = False,
    lock: bool = False,
    hold: bool = False,
) -> tuple[Post, Post]:
    """The post and its thread's first post, when the caller may see them: a member of the board, or the
    addressee of the support request that opened the thread (T2). Anyone else: 404.

    ``lock`` locks the post FOR UPDATE; ``hold`` holds its subject's access row as ``subject_board`` does, for
    a write in the thread. With both, the access row is taken before the post row (the withdrawal's order:
    access row, then posts), so a writer and a withdrawal never wait for each other in a cycle."""
    post = await post_repository.post_by_id(
        session, tenant=principal.tenant, post_id=post_id, lock=lock and not hold
    )
    if post is None:
        raise not_found("post")
    root = post
    if post.parent_id is not None:
        root = (
            await post_repository.post_by_id(session, tenant=principal.tenant, post_id=post.parent_id) or post
        )
    try:
        await board_for(session, principal, board_of(post), write=write, hold=hold)
    except Problem as refused:
        if refused.status != 404 or not addressed_to(root, principal):
            raise
        access = (
            await repository.subject_access(session, subject_id=post.subject_id, hold=hold)
            if post.subject_id
            else None
        )
        if access is not None and access.support_stopped_at is not None:
            raise support_stopped() from None
    if lock and hold:
        locked = await post_repository.post_by_id(
            session, tenant=principal.tenant, post_id=post_id, lock=True
        )
        if locked is None:  # erased (operator, retention) between the two reads
            raise not_found("post")
        post = locked
    if post.support_stopped_at is not None:
        raise support_stopped()
    return post, root


async def record_audit(
    session: AsyncSession, principal: Principal, action: str, board: Board | None, **detail: object
) -> None:
    """The audit entry of a principal's read or write on a board (or across boards when None)."""
    await audit.record_by(
        session,
        principal,
        action=action,
        subject_id=board.subject_id if board else None,
        target=board.target if board else None,
        detail=dict(detail),
    )


def is_operator(principal: Principal) -> bool:
    return bool(OPERATOR_ROLES & principal.roles)


# --- the consent projection ---------------------------------------------------------------------------------


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


async def refuse_subject(session: AsyncSession, *, tenant: str, withdrawal: ConsentWithdrawnV1) -> None:
    """First step of a withdrawal, small and fast: from this commit every read and write of the subject is
    refused (the need-to-know check reads the access row; ``stop_access`` takes it FOR UPDATE first, so a write
    holding it commits before this step and one still to come waits and is refused). The bulk work follows in a transaction of its own
    (``retention.service.stop_support``), through timeline's own queue, so a subject with 10,000 posts is
    refused as quickly as one with none, and the report back waits for the bulk work."""
    await repository.stop_access(
        session, tenant=tenant, subject_id=withdrawal.subject_id, at=datetime.now(UTC)
    )
    await outbox.add_event(
        session,
        SupportStopRequestedV1(withdrawal=withdrawal),
        tenant=tenant,
        subject=str(withdrawal.subject_id),
    )
