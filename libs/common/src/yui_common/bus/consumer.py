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
from yui_common.request_log import trace_id_bound
from yui_common.telemetry import context_from, tracer, tracing_enabled

log = logging.getLogger(__name__)
RETRY_HEADER = "x-yui-retries"
# How long messages wait for a busy drainer before another one starts (when fewer than a batch are waiting).
STALL_S = 0.02
# How long a drainer under load waits for more deliveries before taking less than a full batch.
LINGER_S = 0.002
LINGER_FROM = 4  # ... once the last batch held at least this many (fewer: the quiet case, no waiting)

Handler = Callable[[AsyncSession, Envelope, Any], Awaitable[None]]
# Applies several events of one type at once (one statement for all of them, where a handler would send one
# each): given the events in their delivery order, each already claimed in the inbox.
BatchHandler = Callable[[AsyncSession, Sequence[tuple[Envelope, Any]]], Awaitable[None]]


class PermanentError(Exception):
    """A message that can never succeed: send it to the dead-letter queue without retrying."""


@dataclass
class Subscription:
    """One consumer purpose: a queue, the event types it binds, and a handler or a batch handler per type."""

    queue: str
    handlers: dict[str, Handler] = field(default_factory=dict)
    extra_routing_keys: Sequence[str] = field(default_factory=tuple)
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if both := self.handlers.keys() & self.batch_handlers.keys():
            raise ValueError(f"{self.queue}: a handler and a batch handler for {sorted(both)}")

    @property
    def routing_keys(self) -> list[str]:
        return [*self.handlers.keys(), *self.batch_handlers.keys(), *self.extra_routing_keys]

    def handler_for(self, event_type: str) -> Handler:
        """The type's handler; a batch handler is given the one event. KeyError for a type not handled here."""
        if (handler := self.handlers.get(event_type)) is not None:
            return handler
        batch = self.batch_handlers[event_type]

        async def one(session: AsyncSession, envelope: Envelope, data: Any) -> None:
            await batch(session, [(envelope, data)])

        return one


def _report_unsettled(task: asyncio.Task[None]) -> None:
    """A handling that ended in an exception never acked nor rejected its message (typically the broker
    connection dropped before the ack): the broker delivers it again and the inbox makes that harmless.
    Retrieving the exception here keeps it from surfacing as "Task exception was never retrieved"."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("message left unsettled; the broker will deliver it again", exc_info=exc)


class Acknowledgements:
    """Acks one channel's deliveries with ``multiple=True``, never past a delivery still being handled.

    Batches run concurrently on one channel, so a later batch may commit first. The committed deliveries up to
    the first one still open are acked with one ``multiple=True``; those behind an open one are acked one by
    one, so an open delivery never holds back the others' acks (and with them the channel's prefetch).
    Delivery tags grow with each delivery on a channel, and dicts keep insertion order, so ``_open`` is in tag
    order.
    """

    def __init__(self, channel: object) -> None:
        self.channel = channel
        self._open: dict[int, aio_pika.abc.AbstractIncomingMessage] = {}
        self._committed: set[int] = set()

    def received(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if message.delivery_tag is not None:
            self._open[message.delivery_tag] = message

    def settled(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        """The message was acked, rejected or nacked on its own."""
        if message.delivery_tag is not None:
            self._open.pop(message.delivery_tag, None)
            self._committed.discard(message.delivery_tag)

    async def committed(self, messages: Sequence[aio_pika.abc.AbstractIncomingMessage]) -> None:
        """The messages' transaction committed: ack them (and any earlier ones already committed)."""
        # Only deliveries this tracker saw: a message of a channel since closed must never name a tag here.
        self._committed.update(m.delivery_tag for m in messages if m.delivery_tag in self._open)
        await self.flush()

    async def flush(self) -> None:
        # Every decision and every removal is made before the first await: flushes of batches committing at the
        # same moment interleave at the acks, and each must find only what no other flush has taken (a tag
        # taken twice was a KeyError that left the rest of a batch unacked).
        upto: list[int] = []
        for tag in self._open:
            if tag not in self._committed:
                break
            upto.append(tag)
        # Committed deliveries behind one still being handled are acked one by one, at once: held back, they
        # would count against the prefetch until it stopped the channel, and one slow message (a handler
        # waiting, a long export) would stop its whole queue (f4 found the queue stalled at the prefetch).
        last = self._open[upto[-1]] if upto else None
        for tag in upto:
            del self._open[tag]
        singles = [self._open.pop(tag) for tag in sorted(self._committed.difference(upto))]
        self._committed.clear()
        if last is not None:
            await last.ack(multiple=True)
        for message in singles:
            await message.ack()


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
        batch_max: int = 64,
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
        self._acknowledgements: dict[int, Acknowledgements] = {}
        self._stall_checks: set[asyncio.TimerHandle] = set()
        self._closing = False

    def _acks(self, message: aio_pika.abc.AbstractIncomingMessage) -> Acknowledgements:
        """The tracker of the (underlying) channel the message came on; a reopened channel gets a new one,
        since its delivery tags start again (the old channel's unacked messages are redelivered anyway)."""
        channel = message.channel
        acks = self._acknowledgements.get(id(channel))
        if acks is None or acks.channel is not channel:
            self._acknowledgements = {
                key: tracker
                for key, tracker in self._acknowledgements.items()
                if not getattr(tracker.channel, "is_closed", False)
            }
            acks = self._acknowledgements[id(channel)] = Acknowledgements(channel)
        return acks

    async def start(self) -> None:
        self._closing = False
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
        # message. Up to ``concurrency`` batches are in flight so database round trips overlap, but another
        # drainer starts only for a full batch, or for messages a busy drainer has left waiting STALL_S:
        # messages arriving one by one while a batch commits go together in the next, where a drainer each
        # made them batches of one (issue 13: a third of the consumer's time went to one-message transactions),
        # and a slow handler still holds up no other message for longer than that.
        pending: list[aio_pika.abc.AbstractIncomingMessage] = []
        draining = 0  # drain tasks still able to take from ``pending``
        stall_check: asyncio.TimerHandle | None = None
        together = False  # whether the last batch held LINGER_FROM messages or more

        def drain_if_needed() -> None:
            nonlocal stall_check
            if not pending:
                return
            if draining == 0 or (draining < self._concurrency and len(pending) >= self._batch_max):
                start_draining()
            elif draining < self._concurrency and stall_check is None and not self._closing:
                stall_check = asyncio.get_running_loop().call_later(STALL_S, stalled)
                self._stall_checks.add(stall_check)

        def stalled() -> None:
            nonlocal stall_check
            if stall_check is not None:
                self._stall_checks.discard(stall_check)
            stall_check = None
            if pending and draining < self._concurrency and not self._closing:
                start_draining()

        async def drain_pending() -> None:
            nonlocal draining, together
            try:
                while pending:
                    if together and LINGER_S and len(pending) < self._batch_max:
                        # Under load (the last batch was not a lone message), a moment's wait lets the
                        # deliveries on their way join this batch: a transaction and its commit cost about as
                        # much as a dozen messages, so batches of a few paid mostly for transactions (issue 13).
                        # A lone message, the quiet case, goes at once.
                        await asyncio.sleep(LINGER_S)
                        if not pending:  # another drainer took them meanwhile
                            break
                    batch = pending[: self._batch_max]
                    del pending[: self._batch_max]
                    together = len(batch) >= LINGER_FROM
                    await self.handle_batch(sub, channel, batch)
            finally:
                # Counted down in the same step the loop ends (not in a done-callback, which runs later): a
                # message arriving in between always finds a drainer. One left behind by an error gets one too.
                draining -= 1
                drain_if_needed()

        def start_draining() -> None:
            nonlocal draining
            draining += 1
            task = asyncio.create_task(drain_pending())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(_report_unsettled)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            self._acks(message).received(message)
            pending.append(message)
            drain_if_needed()

        return on_message

    async def handle_batch(
        self,
        sub: Subscription,
        channel: aio_pika.abc.AbstractChannel,
        messages: Sequence[aio_pika.abc.AbstractIncomingMessage],
    ) -> None:
        """Apply several messages in one transaction (one inbox statement claims them all, one ack settles
        them after the commit); if any handler fails, each is handled alone instead, so only the failing one
        is retried or dead-lettered and the others still commit."""
        if len(messages) == 1:
            await self.handle(sub, channel, messages[0])
            return
        parsed: list[tuple[aio_pika.abc.AbstractIncomingMessage, Envelope, EventData]] = []
        for message in messages:
            if message.redelivered or RETRY_HEADER in (message.headers or {}):
                # A redelivery or a retry may be the one that failed before: a transaction of its own.
                await self.handle(sub, channel, message)
                continue
            try:
                envelope = Envelope.model_validate_json(message.body)
                if envelope.type not in sub.handlers and envelope.type not in sub.batch_handlers:
                    raise KeyError(envelope.type)
                parsed.append((message, envelope, envelope.parse_data()))
            except (ValidationError, KeyError, ValueError):
                await self._dead_letter_poison(sub, message)
        if not parsed:
            return
        applied = 0
        try:
            async with self._sessionmaker() as session, session.begin():
                unseen = await inbox.claim_many(
                    session,
                    consumer=sub.queue,
                    messages=[(envelope.id, envelope.type) for _, envelope, _ in parsed],
                )
                fresh = []
                for message, envelope, data in parsed:
                    if envelope.id in unseen:
                        unseen.discard(envelope.id)  # a second copy within this batch is a duplicate
                        fresh.append((message, envelope, data))
                await self._apply_in_order(sub, session, fresh)
                applied = len(fresh)
        except Exception:
            log.info("a batch failed; handling its messages one by one", extra={"queue": sub.queue})
            for message, *_ in parsed:
                await self.handle(sub, channel, message)
            return
        if applied:
            CONSUMED.labels(sub.queue, "applied").inc(applied)
        if len(parsed) > applied:
            CONSUMED.labels(sub.queue, "duplicate").inc(len(parsed) - applied)
        # Normally one channel; after a reconnect, a batch can hold deliveries of the old one and the new one.
        by_channel: dict[int, list[aio_pika.abc.AbstractIncomingMessage]] = {}
        for message, *_ in parsed:
            by_channel.setdefault(id(message.channel), []).append(message)
        for delivered in by_channel.values():
            await self._acks(delivered[0]).committed(delivered)

    async def _apply_in_order(
        self,
        sub: Subscription,
        session: AsyncSession,
        fresh: Sequence[tuple[aio_pika.abc.AbstractIncomingMessage, Envelope, EventData]],
    ) -> None:
        """Apply the batch's new events in delivery order: each consecutive run of a type with a batch handler
        in one call, every other event through its own handler."""
        start = 0
        while start < len(fresh):
            message, envelope, data = fresh[start]
            batch = sub.batch_handlers.get(envelope.type)
            if batch is None:
                with self._span(sub, message, envelope):
                    await sub.handlers[envelope.type](session, envelope, data)
                start += 1
                continue
            end = start + 1
            while end < len(fresh) and fresh[end][1].type == envelope.type:
                end += 1
            run = fresh[start:end]
            with self._batch_span(sub, run):
                await batch(session, [(envelope, data) for _, envelope, data in run])
            start = end

    def _batch_span(
        self,
        sub: Subscription,
        run: Sequence[tuple[aio_pika.abc.AbstractIncomingMessage, Envelope, EventData]],
    ) -> Any:
        """One span for a run applied together, linked to each event's producer; without tracing, log lines take
        the first event's trace id."""
        first_message, first, _ = run[0]
        if not tracing_enabled() or len(run) == 1:
            return self._span(sub, first_message, first)
        return tracer.start_as_current_span(
            f"{first.type} process",
            kind=trace.SpanKind.CONSUMER,
            links=[
                trace.Link(trace.get_current_span(context_from(message.headers)).get_span_context())
                for message, _, _ in run
            ],
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.destination.name": sub.queue,
                "messaging.batch.message_count": len(run),
            },
        )

    async def _dead_letter_poison(
        self, sub: Subscription, message: aio_pika.abc.AbstractIncomingMessage
    ) -> None:
        log.error(
            "poison message dead-lettered", extra={"queue": sub.queue, "message_id": message.message_id}
        )
        CONSUMED.labels(sub.queue, "dead-lettered").inc()
        await self._settle(message, message.reject(requeue=False))

    async def _settle(self, message: aio_pika.abc.AbstractIncomingMessage, settling: Awaitable[None]) -> None:
        """Ack, reject or nack one message on its own, and let its channel's tracker move past it."""
        await settling
        acks = self._acks(message)
        acks.settled(message)
        await acks.flush()

    def _span(
        self, sub: Subscription, message: aio_pika.abc.AbstractIncomingMessage, envelope: Envelope
    ) -> Any:
        if not tracing_enabled():
            # No span to carry the trace: the handler's log lines take the event's trace id from here.
            return trace_id_bound(envelope.traceparent)
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
            handler = sub.handler_for(envelope.type)
            data: EventData = envelope.parse_data()
        except (ValidationError, KeyError, ValueError):
            await self._dead_letter_poison(sub, message)
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
                await self._settle(message, message.reject(requeue=False))
                return
            except Exception:
                log.warning(
                    "handler failed", exc_info=True, extra={"queue": sub.queue, "event_type": envelope.type}
                )
                await self._retry_later(sub, channel, message)
                return
        CONSUMED.labels(sub.queue, "applied" if claimed else "duplicate").inc()
        await self._settle(message, message.ack())

    async def _retry_later(
        self,
        sub: Subscription,
        channel: aio_pika.abc.AbstractChannel,
        message: aio_pika.abc.AbstractIncomingMessage,
    ) -> None:
        retries = int(str((message.headers or {}).get(RETRY_HEADER, 0) or 0))
        if retries >= len(self._retry_delays_ms):
            CONSUMED.labels(sub.queue, "dead-lettered").inc()
            await self._settle(message, message.reject(requeue=False))
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
            await self._settle(message, message.nack(requeue=True))
            return
        CONSUMED.labels(sub.queue, "retried").inc()
        await self._settle(message, message.ack())

    async def drain(self, within_s: float = 10.0) -> None:
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), within_s)

    async def close(self) -> None:
        self._closing = True  # no drainer starts from a stall check any more
        for check in self._stall_checks:
            check.cancel()
        self._stall_checks.clear()
        await self.drain()
        for channel in self._channels:
            with contextlib.suppress(Exception):
                await channel.close()
