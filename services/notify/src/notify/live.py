"""Live fan-out: one PostgreSQL LISTEN per API process, and one read per batch of notifications for all its
open streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yui_common.auth import Principal

from notify import contents, repository
from notify.repository import LIVE_CHANNEL
from notify.schemas import NotificationRead

log = logging.getLogger(__name__)

# A client that stops reading is not queued for without bound: past this it re-reads from the database.
MAX_PENDING = 200


def server_sent_event(notification: NotificationRead, unread: int | None) -> str:
    """One notification, as the inbox answers with it, as a server-sent event, ``id`` being what the browser
    resumes after."""
    payload = notification.model_dump(mode="json")
    data = json.dumps({**payload, "unread": unread})
    return f"id: {notification.id}\nevent: notification\ndata: {data}\n\n"


class LiveStream:
    """One open stream of this process: what the hub pushed to it, and whether it must re-read or end."""

    def __init__(self, principal: Principal, issued_at: int) -> None:
        self.principal = principal
        self.issued_at = issued_at
        self.woken = asyncio.Event()
        self.ended = False
        # The first look, and any look after the hub may have missed something, reads from the database.
        self._resync = True
        self._pending: list[tuple[UUID, str]] = []

    def push(self, notification_id: UUID, event: str) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._pending.clear()
            self._resync = True
        elif not self._resync:
            self._pending.append((notification_id, event))
        self.woken.set()

    def resync(self) -> None:
        self._pending.clear()
        self._resync = True
        self.woken.set()

    def end(self) -> None:
        self.ended = True
        self.woken.set()

    def take(self) -> tuple[bool, list[tuple[UUID, str]]]:
        """(whether to re-read from the database, the events pushed since the last take)."""
        self.woken.clear()
        resync, pending = self._resync, self._pending
        self._resync, self._pending = False, []
        return resync, pending


class LiveHub:
    """Any replica's commit reaches every replica's streams through the database, so no sticky sessions.

    Each API process LISTENs once. The notifications announced together (a post's whole care team) are read
    once, in one statement with each recipient's unread count, checked against the deny list for all the
    streams about to receive them in one more, rendered once and handed to every open stream of their
    recipients here. Streams never query per event: 50 streams each reading on every wake-up queued for the
    API's pool and cost most of a post's live delay (issue 13).
    """

    def __init__(
        self,
        dsn: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        reconnect_delay_s: float = 2.0,
    ) -> None:
        self._dsn = dsn
        self._sessionmaker = sessionmaker
        self._reconnect_delay_s = reconnect_delay_s
        self._streams: defaultdict[UUID, set[LiveStream]] = defaultdict(set)
        self._announced: dict[UUID, None] = {}
        self._fan_out_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def subscribe(self, principal: Principal, *, issued_at: int) -> LiveStream:
        stream = LiveStream(principal, issued_at)
        self._streams[principal.user_id].add(stream)
        return stream

    def unsubscribe(self, stream: LiveStream) -> None:
        user_id = stream.principal.user_id
        streams = self._streams.get(user_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[user_id]

    def _resync_everyone(self) -> None:
        for streams in list(self._streams.values()):
            for stream in streams:
                stream.resync()

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        user, _, notification = payload.partition(" ")
        try:
            user_id, notification_id = UUID(user), UUID(notification)
        except ValueError:
            return
        if user_id not in self._streams:
            return  # nobody of this process listens for them: not even a query
        self._announced[notification_id] = None
        # A NOTIFY arrives per recipient, all in one read from the socket: they are gathered into one batch
        # because the fan-out task only starts after this callback and its siblings have run.
        if self._fan_out_task is None or self._fan_out_task.done():
            self._fan_out_task = asyncio.create_task(self._fan_out(), name="notify-live-fan-out")

    async def _fan_out(self) -> None:
        while self._announced:
            notification_ids = list(self._announced)
            self._announced.clear()
            try:
                await self._deliver(notification_ids)
            except asyncio.CancelledError:
                raise
            except Exception:  # the streams find what they missed by reading for themselves
                log.warning("live notifications: fan-out failed; streams re-read", exc_info=True)
                self._resync_everyone()

    async def _deliver(self, notification_ids: list[UUID]) -> None:
        # A transaction: what each stream is shown of a patient is audited with the read that showed it.
        async with self._sessionmaker() as session, session.begin():
            found = await repository.announced(session, notification_ids=notification_ids)
            described = dict(zip((n.id for n in found), await contents.describe(session, found), strict=True))
            # The streams open now; one that opens later reads what is committed for itself.
            receiving = [
                stream
                for notification in found
                for stream in self._streams.get(notification.user_id, ())
                if stream.principal.tenant == notification.tenant and not stream.ended
            ]
            receiving = list(dict.fromkeys(receiving))
            revoked = await repository.revoked_streams(
                session, streams=[(stream.principal, stream.issued_at) for stream in receiving]
            )
            for position in revoked:
                receiving[position].end()
            allowed = {stream for stream in receiving if not stream.ended}
            for stream in allowed:
                await contents.record_shown(
                    session,
                    stream.principal,
                    [
                        described[n.id]
                        for n in found
                        if n.user_id == stream.principal.user_id and n.tenant == stream.principal.tenant
                    ],
                    via="live",
                )
        for notification in found:
            event = server_sent_event(described[notification.id], notification.unread)
            for stream in self._streams.get(notification.user_id, ()):
                if stream in allowed and stream.principal.tenant == notification.tenant:
                    stream.push(notification.id, event)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="notify-live-listen")

    async def stop(self) -> None:
        for task in (self._task, self._fan_out_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _listen_forever(self) -> None:
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(LIVE_CHANNEL, self._on_notify)
                self.listening.set()
                # Whatever was committed while we were not listening is found by the streams' next look.
                self._resync_everyone()
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be restarting; keep trying
                log.warning("live notifications: cannot listen; retrying", exc_info=True)
            finally:
                self.listening.clear()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(self._reconnect_delay_s)
