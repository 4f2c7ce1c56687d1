"""The signed-in user's notification inbox and its live stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import StreamingResponse
from yui_common.auth import CurrentPrincipal, Principal, bearer_token
from yui_common.db import DbSession

from notify import service
from notify.live import LiveHub, server_sent_event
from notify.schemas import Inbox, MarkedRead, UnreadCount

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("", response_model=Inbox)
async def my_inbox(
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    group: Annotated[
        Literal["subject"] | None, Query(description="subject: also answer the items grouped per patient.")
    ] = None,
) -> Inbox:
    """The newest notifications (newest first, by time then id), each naming its patient, its author and
    an excerpt while the reader may see it."""
    return await service.my_inbox(session, principal=principal, limit=limit, grouped=group == "subject")


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(session: DbSession, principal: CurrentPrincipal) -> UnreadCount:
    return UnreadCount(unread=await service.unread_count(session, principal=principal))


@router.post("/read-all", response_model=MarkedRead)
async def mark_all_read(session: DbSession, principal: CurrentPrincipal) -> MarkedRead:
    return MarkedRead(marked=await service.mark_all_read(session, principal=principal))


@router.post(
    "/{notification_id}/read",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "No such notification of yours"}},
)
async def mark_read(notification_id: UUID, session: DbSession, principal: CurrentPrincipal) -> None:
    await service.mark_read(session, principal=principal, notification_id=notification_id)


def _parse_event_id(value: str | None) -> UUID | None:
    if not value:
        return None
    try:
        return UUID(value)
    except ValueError:
        return None  # an id we never sent: start from what is unread


# More than a stream is ever pushed between two reads (notify.live.MAX_PENDING).
SENT_REMEMBERED = 1000


@dataclass(frozen=True)
class StreamToken:
    """The token a stream was opened with: the stream outlives its request, so it is checked as it runs."""

    issued_at: int
    expires_at: int


async def _events(
    request: Request, principal: Principal, token: StreamToken, after_id: UUID | None
) -> AsyncIterator[str]:
    hub: LiveHub = request.app.state.live_hub
    heartbeat_s: float = request.app.state.settings.stream_heartbeat_s
    sessionmaker = request.app.state.sessionmaker
    # Subscribed before the first read, so nothing committed in between is missed (`sent` drops doubles).
    stream = hub.subscribe(principal, issued_at=token.issued_at)
    # What this stream sent lately (insertion-ordered, bounded), so that nothing is sent twice.
    sent: dict[UUID, None] = {}
    try:
        # EventSource reconnects by itself after this many milliseconds, sending Last-Event-ID.
        yield "retry: 3000\n\n"
        while True:
            # Ending the stream once the token expired or was revoked: the browser reconnects and is refused.
            if time.time() >= token.expires_at or stream.ended:
                return
            resync, events = stream.take()
            if resync:
                # First look, or the hub may have missed something: read for ourselves. Otherwise the hub
                # pushes what is new, already checked against the deny list and n5.
                # A transaction: what the stream shows of a patient is audited as it is read.
                async with sessionmaker() as session, session.begin():
                    if not await service.still_signed_in(
                        session, principal=principal, issued_at=token.issued_at
                    ):
                        return
                    fresh = await service.unsent_for_stream(
                        session, principal=principal, after_id=after_id, already_sent=set(sent)
                    )
                    unread = await service.unread_count(session, principal=principal) if fresh else None
                events = [(n.id, server_sent_event(n, unread)) for n in fresh] + events
            for notification_id, event in events:
                if notification_id in sent:
                    continue
                after_id = max(after_id, notification_id) if after_id else notification_id
                sent[notification_id] = None
                if len(sent) > SENT_REMEMBERED:
                    del sent[next(iter(sent))]
                yield event
            try:
                await asyncio.wait_for(stream.woken.wait(), timeout=heartbeat_s)
            except TimeoutError:
                # Idle: the deny list is still checked as the stream runs, once per heartbeat.
                async with sessionmaker() as session:
                    if not await service.still_signed_in(
                        session, principal=principal, issued_at=token.issued_at
                    ):
                        return
                yield ": heartbeat\n\n"
    finally:
        hub.unsubscribe(stream)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def stream(
    request: Request,
    principal: CurrentPrincipal,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """New notifications as they arrive (server-sent events), resuming after ``Last-Event-ID``."""
    # The dependency verified the token already; read its times again for the checks while the stream runs.
    claims = await request.app.state.token_verifier.verify(bearer_token(request) or "")
    token = StreamToken(issued_at=int(claims["iat"]), expires_at=int(claims["exp"]))
    return StreamingResponse(
        _events(request, principal, token, _parse_event_id(last_event_id)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
