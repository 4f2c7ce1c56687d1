"""What the portal's gate reads on every request, kept in the process and dropped on a NOTIFY: each
network's maintenance state, terms versions, stop banners and users-only notices.

Bounded staleness. A change (a maintenance switch, a terms version, a notice posted or deleted) sends ``pg_notify('portal_gate', …)``
in its own transaction, so PostgreSQL delivers it at the commit. Every portal process LISTENs on one
connection of its own and empties its cache when the notification arrives (milliseconds after the commit);
the process that made the change also empties its own at the commit. So a change is seen by the next
request after its NOTIFY has arrived. While the listening connection is down nothing is cached (every
request reads PostgreSQL, as before this cache), and when it is back the cache starts empty, so a
notification lost meanwhile leaves nothing stale. As a last bound, an entry is dropped after ``ttl_s``
(60 s) even without any notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import asyncpg
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import networks
from yui_common.db import asyncpg_dsn

from portal.operations import repository

log = logging.getLogger(__name__)
CHANNEL = repository.GATE_CHANNEL
ENTRY_TTL_S = 60.0
# The public pages name their network in the query string, so anyone can ask for any number of them: the
# oldest entries make room beyond this many.
MAX_ENTRIES = 10_000
RECONNECT_S = 1.0
# asyncpg learns of a dead socket only when it uses it: a statement this often while idle finds out.
LIVENESS_CHECK_S = 10.0
T = TypeVar("T")


class GateCache:
    """Cached answers of the gate's reads, keyed by what was read (``("maintenance", tenant)``, …)."""

    _live: ClassVar[weakref.WeakSet[GateCache]] = weakref.WeakSet()

    def __init__(self, dsn: str, *, ttl_s: float = ENTRY_TTL_S, max_entries: int = MAX_ENTRIES) -> None:
        self.dsn = dsn
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._listening = asyncio.Event()
        self.generation = 0
        self._entries: dict[tuple[str, str], tuple[Any, float]] = {}
        self._task: asyncio.Task[None] | None = None
        GateCache._live.add(self)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def read(self, key: tuple[str, str], load: Callable[[], Awaitable[T]]) -> T:
        """The cached value, or ``load()``'s (kept unless a change was announced while it loaded)."""
        if not self.listening:
            return await load()
        found = self._entries.get(key)
        if found is not None and found[1] > time.monotonic():
            value: T = found[0]
            return value
        generation = self.generation
        value = await load()
        if self.listening and generation == self.generation:
            self._entries.pop(key, None)
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (value, time.monotonic() + self.ttl_s)
        return value

    def holds(self, key: tuple[str, str]) -> bool:
        """Whether ``key`` is cached now (for tests and the operator's curiosity)."""
        found = self._entries.get(key)
        return found is not None and found[1] > time.monotonic()

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()

    @classmethod
    def invalidate_in_this_process(cls) -> None:
        for cache in list(cls._live):
            cache.invalidate()

    def _notified(self, *_args: object) -> None:
        self.invalidate()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="portal-gate-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self._listening.clear()
        self.invalidate()

    async def wait_listening(self) -> None:
        """Until the LISTEN is in place (the caller bounds the wait)."""
        await self._listening.wait()

    async def _listen(self) -> None:
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self.dsn)
                lost = asyncio.Event()
                connection.add_termination_listener(functools.partial(_set_on_termination, lost))
                await connection.add_listener(CHANNEL, self._notified)
                # A network suspended or resumed (yui_common.networks' projection) changes what the gate answers.
                await connection.add_listener(networks.CHANNEL, self._notified)
                self.invalidate()  # anything cached before this LISTEN may have missed a notification
                self._listening.set()
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), LIVENESS_CHECK_S)
                    except TimeoutError:
                        await connection.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarting or unreachable: read it per request meanwhile
                log.warning("portal gate cache: not listening (%s); retrying", type(exc).__name__)
            finally:
                self._listening.clear()
                self.invalidate()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection.close(), 2)
            await asyncio.sleep(RECONNECT_S)


async def read_through(app: FastAPI, key: tuple[str, str], load: Callable[[], Awaitable[T]]) -> T:
    """``load()``'s answer through the app's gate cache (straight ``load()`` in an app without one)."""
    cache: GateCache | None = getattr(app.state, "gate_cache", None)
    return await (cache.read(key, load) if cache is not None else load())


async def announce_change(session: AsyncSession, what: str) -> None:
    """In the transaction that changes what the gate reads: every portal process empties its cache when it
    commits (this one at the commit, the others when the NOTIFY reaches them)."""
    await repository.notify_gate_change(session, what)
    event.listen(session.sync_session, "after_commit", _drop_local_cache, once=True)


def _drop_local_cache(_session: object) -> None:
    GateCache.invalidate_in_this_process()


def _set_on_termination(lost: asyncio.Event, _connection: object) -> None:
    lost.set()


async def start_gate_cache(app: FastAPI) -> None:
    """At the app's start: the cache and its listening connection (app.state.gate_cache)."""
    cache = GateCache(asyncpg_dsn(app.state.settings.dsn))
    app.state.gate_cache = cache
    await cache.start()


async def stop_gate_cache(app: FastAPI) -> None:
    cache: GateCache | None = getattr(app.state, "gate_cache", None)
    if cache is not None:
        await cache.stop()
