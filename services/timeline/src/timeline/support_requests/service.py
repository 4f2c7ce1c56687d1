"""Support requests (T2): a post addressed to a user or a facility is opened, answered by a reply of the
addressee, then adopted or declined by the requester. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.timeline import SupportRequestAnsweredV1, SupportRequestDecidedV1, SupportRequestedV1
from yui_common.problems import Problem, not_found

from timeline.access.service import Board, addressed_to, board_of, reach_post, record_audit
from timeline.models import Post
from timeline.posts.excerpts import excerpt_of
from timeline.support_requests import repository


def require_subject_board(board: Board) -> None:
    if board.subject_id is None:
        raise Problem(
            422,
            "support-request-needs-subject",
            "Support requests are about a subject",
            "A support request is posted on a subject's timeline.",
        )


async def announce_request(session: AsyncSession, *, principal: Principal, post: Post) -> None:
    """The request just posted is told to its addressee (through notify)."""
    assert post.subject_id is not None
    await outbox.add_event(
        session,
        SupportRequestedV1(
            subject_id=post.subject_id,
            post_id=post.id,
            author_id=principal.user_id,
            addressed_user_id=post.addressed_user_id,
            addressed_facility_id=post.addressed_facility_id,
            excerpt=excerpt_of(post.body),
        ),
        tenant=principal.tenant,
        subject=str(post.subject_id),
    )


def answers_request(root: Post, principal: Principal) -> bool:
    """Whether a reply by this principal answers the request that opened the thread."""
    return addressed_to(root, principal) and root.request_status in {"open", "answered"}


async def record_answer(session: AsyncSession, *, principal: Principal, request: Post, answer: Post) -> None:
    """The addressee's first reply moves an open request to answered and tells the requester."""
    if request.request_status != "open":
        return
    request.request_status = "answered"
    request.request_updated_at = answer.created_at
    assert request.subject_id is not None
    await outbox.add_event(
        session,
        SupportRequestAnsweredV1(
            subject_id=request.subject_id,
            post_id=request.id,
            answer_post_id=answer.id,
            answered_by=principal.user_id,
            requester_id=request.author_id,
            excerpt=excerpt_of(answer.body),
        ),
        tenant=principal.tenant,
        subject=str(request.subject_id),
    )


async def decide_support_request(
    session: AsyncSession, *, principal: Principal, post_id: UUID, decision: str
) -> Post:
    # hold: a decision (and the notice it sends) is not recorded after the subject's withdrawal (C4).
    post, _ = await reach_post(session, principal=principal, post_id=post_id, lock=True, hold=True)
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
            excerpt=excerpt_of(post.body),
        ),
        tenant=principal.tenant,
        subject=str(post.subject_id),
    )
    await record_audit(session, principal, f"support_request.{decision}", board_of(post), post=post.id)
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
        await record_audit(
            session, principal, "support_request.list", Board(principal.tenant, subject_id=subject_id)
        )
    return posts
