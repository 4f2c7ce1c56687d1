"""Support requests' routes (T2): the requester's decision, and the requests I received or sent."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from timeline.posts.api import RESPONSES
from timeline.posts.responses import mark_reference_only, post_read
from timeline.posts.schemas import PostRead
from timeline.posts.service import views_of
from timeline.support_requests import service
from timeline.support_requests.schemas import SupportDecision

router = APIRouter(tags=["support requests"])


@router.post("/posts/{post_id}/support-request/decision", response_model=PostRead, responses=RESPONSES)
async def decide_support_request(
    post_id: UUID, body: SupportDecision, session: DbSession, principal: CurrentPrincipal
) -> PostRead:
    """The requester adopts or declines the answer (T2)."""
    post = await service.decide_support_request(
        session, principal=principal, post_id=post_id, decision=body.decision
    )
    [view] = await views_of(session, principal, [post])
    return post_read(view)


@router.get("/support-requests", response_model=list[PostRead])
async def support_requests(
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
    box: Annotated[str, Query(pattern="^(received|sent)$")] = "received",
) -> list[PostRead]:
    """Requests addressed to me or my facility (received), or those I sent."""
    posts = await service.support_requests(session, principal=principal, sent=box == "sent")
    mark_reference_only(response)
    return [post_read(v) for v in await views_of(session, principal, posts)]
