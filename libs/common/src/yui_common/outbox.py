"""Transactional outbox: events are written in the business transaction and relayed to RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime

import aio_pika
import asyncpg
from opentelemetry import trace
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yui_common.bus.publisher import publish_envelope
from yui_common.events import Envelope, EventData, envelope_for
from yui_common.telemetry import context_from, current_trace_headers, tracer

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "yui_outbox"

# One statement, one round trip: stage the row and NOTIFY (transactional, so the relay wakes only once the
# event is committed; PostgreSQL folds repeated notifications of one transaction into one). A fixed text
# statement is compiled and prepared once, where a per-call ``insert().values(...)`` was compiled every time.
_STAGE = text(
    "WITH staged AS (INSERT INTO outbox (id, event_type, envelope, trace_headers) "
    "VALUES (:id, :event_type, CAST(:envelope AS jsonb), CAST(:trace_headers AS jsonb)) RETURNING 1) "
    "SELECT pg_notify(:channel, '') FROM staged"
)


async def add_event(
    session: AsyncSession, data: EventData, *, tenant: str, subject: str | None = None
) -> Envelope:
    """Stage an event in the caller's transaction; it leaves only if that transaction commits."""
    headers = current_trace_headers()
    envelope = envelope_for(data, tenant=tenant, subject=subject)
    if headers.get("traceparent"):
        envelope = envelope.model_copy(update={"traceparent": headers["traceparent"]})
    await session.execute(
        _STAGE,
        {
            "id": envelope.id,
            "event_type": envelope.type,
            "envelope": envelope.model_dump_json(),
            "trace_headers": json.dumps(headers),
            "channel": NOTIFY_CHANNEL,
        },
    )
    return envelope


async def outbox_backlog(session: AsyncSession) -> tuple[int, float]:
    """Unpublished events and the age in seconds of the oldest one."""
    row = (
        await session.execute(
            text(
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                "FROM outbox WHERE published_at IS NULL"
            )
        )
    ).one()
    return int(row[0]), float(row[1])


_SWEEP = text(
    "SELECT id, envelope, trace_headers FROM outbox WHERE published_at IS NULL "
    "ORDER BY created_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_MARK = text("UPDATE outbox SET published_at = now() WHERE id = ANY(:ids)")
_PURGE = text("DELETE FROM outbox WHERE published_at < now() - make_interval(secs => :keep)")


class OutboxRelay:
    """Publishes every unpublished outbox row with publisher confirms, then marks it published.

    Several relays may run at once (one per worker replica): rows are locked with SKIP LOCKED. A crash
    between the broker's confirm and the commit republishes the batch; consumers are idempotent.
    """

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        listen_dsn: str,
        channel: aio_pika.abc.AbstractChannel,
        exchange_name: str,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        keep_published_s: float = 86400.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._listen_dsn = listen_dsn
        self._channel = channel
        self._exchange_name = exchange_name
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._keep_published_s = keep_published_s
        self._wake = asyncio.Event()
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self.published_total = 0

    async def _exchange_handle(self) -> aio_pika.abc.AbstractExchange:
        if self._exchange is None:
            self._exchange = await self._channel.get_exchange(self._exchange_name, ensure=False)
        return self._exchange

    async def sweep_once(self) -> int:
        """Publish one batch; returns how many rows were published."""
        exchange = await self._exchange_handle()
        async with self._sessionmaker() as session, session.begin():
            rows = (await session.execute(_SWEEP, {"limit": self._batch_size})).all()
            if not rows:
                return 0
            publishes = []
            for row in rows:
                envelope = Envelope.model_validate(row.envelope)
                with tracer.start_as_current_span(
                    f"{envelope.type} publish",
                    context=context_from(row.trace_headers),
                    kind=trace.SpanKind.PRODUCER,
                    attributes={"messaging.system": "rabbitmq", "messaging.message.id": str(envelope.id)},
                ):
                    publishes.append(publish_envelope(exchange, envelope, current_trace_headers()))
            await asyncio.gather(*publishes)
            await session.execute(_MARK, {"ids": [row.id for row in rows]})
        self.published_total += len(rows)
        return len(rows)

    async def purge_published(self) -> None:
        async with self._sessionmaker() as session, session.begin():
            await session.execute(_PURGE, {"keep": self._keep_published_s})

    async def _listen(self) -> None:
        """Wake the relay on NOTIFY; reconnect when PostgreSQL goes away."""
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._listen_dsn)
                await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
                self._wake.set()  # sweep whatever was committed while we were not listening
                # asyncpg calls termination listeners when the connection goes; the timeout re-checks anyway.
                closed = asyncio.Event()
                conn.add_termination_listener(lambda *_, done=closed: done.set())
                while not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(closed.wait(), 5)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("outbox listener lost its connection; retrying", exc_info=True)
                await asyncio.sleep(1)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name="outbox-listen")
        last_purge = datetime.now(UTC)
        try:
            while True:
                try:
                    published = await self.sweep_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Broker or database unavailable: rows stay unpublished and are swept again.
                    log.warning("outbox sweep failed; will retry", exc_info=True)
                    await asyncio.sleep(min(self._poll_interval_s, 0.5))
                    continue
                if published >= self._batch_size:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval_s)
                self._wake.clear()
                if (datetime.now(UTC) - last_purge).total_seconds() > 300:
                    last_purge = datetime.now(UTC)
                    with contextlib.suppress(Exception):
                        await self.purge_published()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
