"""Live fan-out: one PostgreSQL LISTEN per API process wakes the open streams of the users concerned."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from uuid import UUID

import asyncpg

from notify.repository import LIVE_CHANNEL

log = logging.getLogger(__name__)


class LiveHub:
    """Any replica's commit reaches every replica's streams through the database, so no sticky sessions."""

    def __init__(self, dsn: str, *, reconnect_delay_s: float = 2.0) -> None:
        self._dsn = dsn
        self._reconnect_delay_s = reconnect_delay_s
        self._streams: defaultdict[UUID, set[asyncio.Queue[None]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def subscribe(self, user_id: UUID) -> asyncio.Queue[None]:
        # One slot is enough: a wake-up only says "look again"; the stream reads what is new from the database
        wake: asyncio.Queue[None] = asyncio.Queue(maxsize=1)
        self._streams[user_id].add(wake)
        return wake

    def unsubscribe(self, user_id: UUID, wake: asyncio.Queue[None]) -> None:
        streams = self._streams.get(user_id)
        if streams is not None:
            streams.discard(wake)
            if not streams:
                del self._streams[user_id]

    def _wake(self, user_id: UUID) -> None:
        for wake in self._streams.get(user_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                wake.put_nowait(None)

    def _wake_everyone(self) -> None:
        for user_id in list(self._streams):
            self._wake(user_id)

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        user, _, _ = payload.partition(" ")
        with contextlib.suppress(ValueError):
            self._wake(UUID(user))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="notify-live-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
                self._wake_everyone()
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
