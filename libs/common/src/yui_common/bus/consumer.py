"""The consumer runner: inbox-guarded handlers, delayed retries, dead letters for poison."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yui_common import inbox
from yui_common.bus.topology import declare_consumer_queue, retry_queue_name
from yui_common.events import Envelope, EventData
from yui_common.metrics import CONSUMED, REDELIVERIES
from yui_common.telemetry import context_from, tracer

log = logging.getLogger(__name__)
RETRY_HEADER = "x-yui-retries"

Handler = Callable[[AsyncSession, Envelope, Any], Awaitable[None]]


class PermanentError(Exception):
    """A message that can never succeed: send it to the dead-letter queue without retrying."""


@dataclass
class Subscription:
    """One consumer purpose: a queue, the event types it binds, and a handler per type."""

    queue: str
    handlers: dict[str, Handler]
    extra_routing_keys: Sequence[str] = field(default_factory=tuple)

    @property
    def routing_keys(self) -> list[str]:
        return [*self.handlers.keys(), *self.extra_routing_keys]


def _report_unsettled(task: asyncio.Task[None]) -> None:
    """A handling that ended in an exception never acked nor rejected its message (typically the broker
    connection dropped before the ack): the broker delivers it again and the inbox makes that harmless.
    Retrieving the exception here keeps it from surfacing as "Task exception was never retrieved"."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("message left unsettled; the broker will deliver it again", exc_info=exc)


class ConsumerRunner:
    def __init__(
        self,
        *,
        connection: aio_pika.abc.AbstractRobustConnection,
        sessionmaker: async_sessionmaker[AsyncSession],
        exchange_name: str,
        subscriptions: Sequence[Subscription],
        prefetch: int = 64,
        delivery_limit: int = 5,
        retry_delays_ms: Sequence[int] = (1000, 5000, 30000),
        batch_max: int = 32,
        concurrency: int = 4,
    ) -> None:
        self._connection = connection
        self._sessionmaker = sessionmaker
        self._exchange_name = exchange_name
        self.subscriptions = list(subscriptions)
        self._prefetch = prefetch
        self._delivery_limit = delivery_limit
        self._retry_delays_ms = list(retry_delays_ms)
        self._batch_max = max(1, batch_max)
        self._concurrency = max(1, concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._channels: list[aio_pika.abc.AbstractChannel] = []

    async def start(self) -> None:
        for sub in self.subscriptions:
            channel = await self._connection.channel(publisher_confirms=True)
            await channel.set_qos(prefetch_count=self._prefetch)
            queue = await declare_consumer_queue(
                channel,
                exchange_name=self._exchange_name,
                queue=sub.queue,
                routing_keys=sub.routing_keys,
                delivery_limit=self._delivery_limit,
                retry_delays_ms=self._retry_delays_ms,
            )
            self._channels.append(channel)
            await queue.consume(self._dispatcher(sub, channel))

    def _dispatcher(
        self, sub: Subscription, channel: aio_pika.abc.AbstractChannel
    ) -> Callable[[aio_pika.abc.AbstractIncomingMessage], Awaitable[None]]:
        # Messages that arrived together are applied together: one transaction commits a batch (each message
        # still claimed in the inbox and handled on its own), which saves a BEGIN/COMMIT and a WAL flush per
        # message. Up to ``concurrency`` batches are in flight so database round trips overlap.
        pending: list[aio_pika.abc.AbstractIncomingMessage] = []
        draining = 0  # drain tasks still able to take from ``pending``

        async def drain_pending() -> None:
            nonlocal draining
            try:
                while pending:
                    batch = pending[: self._batch_max]
                    del pending[: self._batch_max]
                    await self.handle_batch(sub, channel, batch)
            finally:
                # Counted down in the same step the loop ends (not in a done-callback, which runs later): a
                # message arriving in between always finds a drainer. One left behind by an error gets one too.
                draining -= 1
                if pending and draining < self._concurrency:
                    start_draining()

        def start_draining() -> None:
            nonlocal draining
            draining += 1
            task = asyncio.create_task(drain_pending())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(_report_unsettled)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            pending.append(message)
            if draining < self._concurrency:
                start_draining()

        return on_message

    async def handle_batch(
        self,
        sub: Subscription,
        channel: aio_pika.abc.AbstractChannel,
        messages: Sequence[aio_pika.abc.AbstractIncomingMessage],
    ) -> None:
        """Apply several messages in one transaction; if any handler fails, each is handled alone instead,
        so only the failing one is retried or dead-lettered and the others still commit."""
        if len(messages) == 1:
            await self.handle(sub, channel, messages[0])
            return
        parsed: list[tuple[aio_pika.abc.AbstractIncomingMessage, Envelope, Handler, EventData]] = []
        for message in messages:
            if message.redelivered or RETRY_HEADER in (message.headers or {}):
                # A redelivery or a retry may be the one that failed before: a transaction of its own.
                await self.handle(sub, channel, message)
                continue
            try:
                envelope = Envelope.model_validate_json(message.body)
                parsed.append((message, envelope, sub.handlers[envelope.type], envelope.parse_data()))
            except (ValidationError, KeyError, ValueError):
                log.error(
                    "poison message dead-lettered",
                    extra={"queue": sub.queue, "message_id": message.message_id},
                )
                CONSUMED.labels(sub.queue, "dead-lettered").inc()
                await message.reject(requeue=False)
        if not parsed:
            return
        claims: list[bool] = []
        try:
            async with self._sessionmaker() as session, session.begin():
                for message, envelope, handler, data in parsed:
                    with self._span(sub, message, envelope):
                        claimed = await inbox.claim(
                            session, consumer=sub.queue, message_id=envelope.id, event_type=envelope.type
                        )
                        if claimed:
                            await handler(session, envelope, data)
                    claims.append(claimed)
        except Exception:
            log.info("a batch failed; handling its messages one by one", extra={"queue": sub.queue})
            for message, *_ in parsed:
                await self.handle(sub, channel, message)
            return
        for (message, *_), claimed in zip(parsed, claims, strict=True):
            CONSUMED.labels(sub.queue, "applied" if claimed else "duplicate").inc()
            await message.ack()

    def _span(
        self, sub: Subscription, message: aio_pika.abc.AbstractIncomingMessage, envelope: Envelope
    ) -> Any:
        return tracer.start_as_current_span(
            f"{envelope.type} process",
            context=context_from(message.headers),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.destination.name": sub.queue,
                "messaging.message.id": str(envelope.id),
            },
        )

    async def handle(
        self,
        sub: Subscription,
        channel: aio_pika.abc.AbstractChannel,
        message: aio_pika.abc.AbstractIncomingMessage,
    ) -> None:
        if message.redelivered:
            REDELIVERIES.labels(sub.queue).inc()
        try:
            envelope = Envelope.model_validate_json(message.body)
            handler = sub.handlers[envelope.type]
            data: EventData = envelope.parse_data()
        except (ValidationError, KeyError, ValueError):
            log.error(
                "poison message dead-lettered", extra={"queue": sub.queue, "message_id": message.message_id}
            )
            CONSUMED.labels(sub.queue, "dead-lettered").inc()
            await message.reject(requeue=False)
            return

        with self._span(sub, message, envelope):
            try:
                async with self._sessionmaker() as session, session.begin():
                    claimed = await inbox.claim(
                        session, consumer=sub.queue, message_id=envelope.id, event_type=envelope.type
                    )
                    if claimed:
                        await handler(session, envelope, data)
            except PermanentError:
                log.error(
                    "permanent failure; dead-lettered",
                    extra={"queue": sub.queue, "event_type": envelope.type},
                )
                CONSUMED.labels(sub.queue, "dead-lettered").inc()
                await message.reject(requeue=False)
                return
            except Exception:
                log.warning(
                    "handler failed", exc_info=True, extra={"queue": sub.queue, "event_type": envelope.type}
                )
                await self._retry_later(sub, channel, message)
                return
        CONSUMED.labels(sub.queue, "applied" if claimed else "duplicate").inc()
        await message.ack()

    async def _retry_later(
        self,
        sub: Subscription,
        channel: aio_pika.abc.AbstractChannel,
        message: aio_pika.abc.AbstractIncomingMessage,
    ) -> None:
        retries = int(str((message.headers or {}).get(RETRY_HEADER, 0) or 0))
        if retries >= len(self._retry_delays_ms):
            CONSUMED.labels(sub.queue, "dead-lettered").inc()
            await message.reject(requeue=False)
            return
        delay = self._retry_delays_ms[retries]
        headers = dict(message.headers or {})
        headers[RETRY_HEADER] = retries + 1
        copy = aio_pika.Message(
            body=message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            type=message.type,
            app_id=message.app_id,
            timestamp=message.timestamp,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            # Park the copy (confirmed) before acking the original: a crash in between duplicates, never loses.
            await channel.default_exchange.publish(copy, routing_key=retry_queue_name(sub.queue, delay))
        except Exception:
            log.warning("could not park message for retry; requeueing", exc_info=True)
            await message.nack(requeue=True)
            return
        CONSUMED.labels(sub.queue, "retried").inc()
        await message.ack()

    async def drain(self, within_s: float = 10.0) -> None:
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), within_s)

    async def close(self) -> None:
        await self.drain()
        for channel in self._channels:
            with contextlib.suppress(Exception):
                await channel.close()
