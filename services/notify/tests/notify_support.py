"""Helpers of the notify tests: events into notify's queues, a real SMTP server, a real HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from notify import mail_catcher, repository
from notify.consumers import consent, identity, timeline
from notify.models import EmailDelivery
from notify.settings import Settings
from sqlalchemy import select
from uuid6 import uuid7
from yui_common.events import Envelope, EventData, envelope_for
from yui_common.metrics import CONSUMED

from tests.support.bus import publish_direct
from tests.support.stack import Stack, Staff, eventually

QUEUES = {
    "consent": consent.subscription.queue,
    "timeline": timeline.subscription.queue,
    "identity": identity.subscription.queue,
}


def notify_settings(stack: Stack) -> Settings:
    settings = stack["notify"].settings
    assert isinstance(settings, Settings)
    return settings


def envelope(data: EventData, *, tenant: str = "demo", subject: UUID | None = None) -> Envelope:
    return envelope_for(data, tenant=tenant, subject=str(subject) if subject else None)


async def deliver(stack: Stack, event: Envelope, *, queue: str | None = None) -> None:
    """Straight into the notify queue that consumes this producer (default exchange), as the broker would."""
    await publish_direct(stack["notify"].settings.amqp_url, event, queue=queue or QUEUES[event.source])


async def deliver_and_wait(stack: Stack, event: Envelope, *, queue: str | None = None) -> None:
    """Deliver and wait until notify's worker has applied it (its inbox holds the claim)."""
    queue = queue or QUEUES[event.source]
    await deliver(stack, event, queue=queue)

    async def applied() -> bool:
        async with stack["notify"].sessionmaker() as session:
            from sqlalchemy import text

            found = await session.execute(
                text("SELECT 1 FROM inbox WHERE consumer = :c AND message_id = :m"),
                {"c": queue, "m": event.id},
            )
            return found.first() is not None

    await eventually(applied, what=f"notify to apply {event.type}")


def duplicates_seen(event: Envelope) -> float:
    return CONSUMED.labels(QUEUES[event.source], "duplicate")._value.get()  # type: ignore[attr-defined,no-any-return]


async def team(stack: Stack, *members: Staff, tenant: str = "demo") -> UUID:
    """A subject whose care team notify's projection knows."""
    subject_id = uuid7()
    async with stack["notify"].sessionmaker() as session, session.begin():
        for member in members:
            await repository.add_member(session, tenant=tenant, subject_id=subject_id, user_id=member.user_id)
    return subject_id


async def inbox(stack: Stack, staff: Staff) -> dict[str, Any]:
    response = await stack["notify"].client.get("/notifications", headers=staff.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def kinds_of(stack: Stack, staff: Staff) -> list[str]:
    return [n["kind"] for n in (await inbox(stack, staff))["items"]]


async def choose(stack: Stack, staff: Staff, **preferences: Any) -> None:
    response = await stack["notify"].client.put(
        "/notifications/preferences", json=preferences, headers=staff.headers
    )
    assert response.status_code == 200, response.text


async def email_outcomes(stack: Stack, user_id: UUID) -> list[str | None]:
    async with stack["notify"].sessionmaker() as session:
        rows = await session.execute(select(EmailDelivery.outcome).where(EmailDelivery.user_id == user_id))
        return list(rows.scalars())


class Mailbox:
    """What the real SMTP server received."""

    def __init__(self, handler: mail_catcher.SaveMessages) -> None:
        self._handler = handler

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in list(self._handler.messages) if m["To"] == address]


@pytest.fixture(name="mailbox")
def mail_server(stack: Stack) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) that notify's worker sends to for the duration of one test."""
    controller, handler = mail_catcher.start()
    settings = notify_settings(stack)
    previous = settings.smtp_port
    settings.smtp_port = controller.port
    try:
        yield Mailbox(handler)
    finally:
        settings.smtp_port = previous
        controller.stop()


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Serve an app whose lifespan already runs over real HTTP (streams need it); yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await eventually(lambda: server.started, what="the HTTP server to start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class EventStream:
    """A server-sent events reader over a real HTTP connection."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next_event(self) -> dict[str, str]:
        event: dict[str, str] = {}
        async for line in self._lines:
            if line == "":
                if "data" in event:
                    return event
                event = {}
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            field, _, value = line.partition(":")
            event[field] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    async def ready(self) -> None:
        """The server's first line (``retry:``) is sent once the stream listens for wake-ups."""
        async for line in self._lines:
            if line.startswith("retry:"):
                return
        raise AssertionError("the stream ended")

    async def events_until_closed(self) -> list[dict[str, str]]:
        """Every event the server still sends, once it has closed the stream."""
        events: list[dict[str, str]] = []
        event: dict[str, str] = {}
        async for line in self._lines:
            if line == "" and "data" in event:
                events.append(event)
                event = {}
            elif line and not line.startswith(":"):
                field, _, value = line.partition(":")
                event[field] = value.removeprefix(" ")
        return events

    async def next_comment(self) -> str:
        async for line in self._lines:
            if line.startswith(":"):
                return line[1:].strip()
        raise AssertionError("the stream ended")


@contextlib.asynccontextmanager
async def open_stream(
    base_url: str, staff: Staff, last_event_id: str | None = None
) -> AsyncIterator[EventStream]:
    headers = dict(staff.headers)
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(60.0)) as client,
        client.stream("GET", "/notifications/stream", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield EventStream(response)
