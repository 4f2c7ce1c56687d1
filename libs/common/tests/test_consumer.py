"""yui_common.bus.consumer: ack after commit, delayed retries, poison to the DLQ, each message applied once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

import aio_pika
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.util import await_only
from uuid6 import uuid7
from yui_common.bus.consumer import (
    RETRY_HEADER,
    Acknowledgements,
    ConsumerRunner,
    Handler,
    PermanentError,
    Subscription,
)
from yui_common.bus.topology import dlq_name, retry_queue_name
from yui_common.events import Envelope, envelope_for

from libs.common.tests.library_support import (
    WAIT_S,
    Broker,
    LibraryPingV1,
    LibrarySettings,
    Sessions,
    applications,
    apply_ping,
    eventually,
    scalar,
)
from tests.support.bus import publish_direct

EXCHANGE = "library.consumer"


@pytest.fixture
def queue() -> str:
    # A queue of its own per test: nothing another test left behind can reach this one.
    return f"library.consumer.{uuid7()}"


@contextlib.asynccontextmanager
async def consuming(
    settings: LibrarySettings,
    sessions: Sessions,
    queue: str,
    handler: Handler,
    *,
    retry_delays_ms: Sequence[int] = (100, 200),
    connection: aio_pika.abc.AbstractRobustConnection | None = None,
) -> AsyncIterator[ConsumerRunner]:
    """The real runner on its own connection, consuming ``queue`` until the block ends."""
    connection = connection or await aio_pika.connect_robust(settings.amqp_url)
    runner = ConsumerRunner(
        connection=connection,
        sessionmaker=sessions,
        exchange_name=EXCHANGE,
        subscriptions=[Subscription(queue=queue, handlers={LibraryPingV1.event_type: handler})],
        retry_delays_ms=retry_delays_ms,
    )
    try:
        await runner.start()
        yield runner
    finally:
        await runner.close()
        with contextlib.suppress(Exception):
            await connection.close()


def ping(scenario: str) -> Envelope:
    return envelope_for(LibraryPingV1(scenario=scenario), tenant="demo")


def counted(queue: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("yui_consumer_messages_total", {"queue": queue, "outcome": outcome}) or 0.0
    )


def redeliveries_counted(queue: str) -> float:
    return REGISTRY.get_sample_value("yui_consumer_redeliveries_total", {"queue": queue}) or 0.0


async def publish_raw(amqp_url: str, queue: str, body: bytes) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(
            aio_pika.Message(body=body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=queue
        )


async def depth_is(broker: Broker, queue: str, wanted: int) -> bool:
    return await broker.depth(queue) == wanted


class Attempts:
    """The event ids a handler was called with, in order."""

    def __init__(self) -> None:
        self.ids: list[UUID] = []

    def note(self, envelope: Envelope) -> int:
        self.ids.append(envelope.id)
        return len(self.ids)


class TestAckAfterCommit:
    async def test_a_handled_message_leaves_its_effect_and_claim_committed_and_the_queue_empty(
        self, library_settings: LibrarySettings, sessions: Sessions, broker: Broker, queue: str
    ) -> None:
        envelope = ping("acked")
        async with consuming(library_settings, sessions, queue, apply_ping):  # type: ignore[arg-type]
            await publish_direct(library_settings.amqp_url, envelope, queue=queue)
            await eventually(lambda: applications(sessions, "acked"), what="the effect to be committed")
        # The runner's channels are closed: an unacked message would be back in the queue now.
        assert await broker.depth(queue) == 0
        assert await applications(sessions, "acked") == [1]
        claims = await scalar(
            sessions,
            "SELECT count(*) FROM inbox WHERE consumer = :q AND message_id = :m",
            q=queue,
            m=envelope.id,
        )
        assert claims == 1
        assert counted(queue, "applied") == 1

    async def test_a_message_whose_commit_fails_after_the_handler_returned_is_not_acked_but_retried(
        self, library_settings: LibrarySettings, sessions: Sessions, broker: Broker, queue: str
    ) -> None:
        parent = uuid7()
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO parents (id) VALUES (:id)"), {"id": parent})
        attempts = Attempts()

        async def effect_checked_at_commit(session: AsyncSession, envelope: Envelope, data: Any) -> None:
            # The first attempt names a parent that does not exist: the deferred foreign key fails the COMMIT,
            # after this handler has returned normally.
            missing_parent = attempts.note(envelope) == 1
            await session.execute(
                text("INSERT INTO deferred_effects (event_id, parent_id) VALUES (:id, :parent)"),
                {"id": envelope.id, "parent": uuid7() if missing_parent else parent},
            )

        envelope = ping("commit-fails")
        async with consuming(library_settings, sessions, queue, effect_checked_at_commit):
            await publish_direct(library_settings.amqp_url, envelope, queue=queue)

            async def committed() -> bool:
                return bool(
                    await scalar(
                        sessions, "SELECT count(*) FROM deferred_effects WHERE event_id = :id", id=envelope.id
                    )
                )

            await eventually(committed, what="the retried message's effect to commit")
        assert attempts.ids == [envelope.id, envelope.id]
        assert await broker.depth(queue) == 0
        assert await broker.depth(dlq_name(queue)) == 0


class TestTransientFailures:
    async def test_a_failing_handler_parks_the_message_in_the_first_retry_queue_and_acks_the_original(
        self, library_settings: LibrarySettings, sessions: Sessions, broker: Broker, queue: str
    ) -> None:
        attempts = Attempts()

        async def fails(session: AsyncSession, envelope: Envelope, data: Any) -> None:
            attempts.note(envelope)
            raise RuntimeError("the database of a neighbour is briefly away")

        envelope = ping("parked")
        # An hour's delay: the parked copy stays where the test can look at it.
        parking = retry_queue_name(queue, 3_600_000)
        async with consuming(library_settings, sessions, queue, fails, retry_delays_ms=(3_600_000,)):
            await publish_direct(library_settings.amqp_url, envelope, queue=queue)
            await eventually(lambda: depth_is(broker, parking, 1), what="the message to be parked for retry")
        assert await broker.depth(queue) == 0
        assert await broker.depth(dlq_name(queue)) == 0
        [parked] = await broker.take_all(parking)
        assert parked.message_id == str(envelope.id)
        assert parked.body == envelope.model_dump_json().encode()
        assert (parked.headers or {})[RETRY_HEADER] == 1
        assert parked.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert attempts.ids == [envelope.id]

    async def test_a_message_back_from_its_delayed_retry_is_applied_once_without_its_failed_attempts_writes(
        self, library_settings: LibrarySettings, sessions: Sessions, broker: Broker, queue: str
    ) -> None:
        attempts = Attempts()

        async def fails_once(session: AsyncSession, envelope: Envelope, data: LibraryPingV1) -> None:
            # The effect is written before the failure: the rollback must take it back with the claim.
            await apply_ping(session, envelope, data)
            if attempts.note(envelope) == 1:
                raise RuntimeError("transient")

        envelope = ping("retried")
        async with consuming(library_settings, sessions, queue, fails_once):  # type: ignore[arg-type]
            await publish_direct(library_settings.amqp_url, envelope, queue=queue)
            await eventually(lambda: applications(sessions, "retried"), what="the retried message's effect")
        assert attempts.ids == [envelope.id, envelope.id]
        assert await applications(sessions, "retried") == [1]
        assert (counted(queue, "retried"), counted(queue, "applied")) == (1, 1)
        assert await broker.depth(queue) == 0
        assert await broker.depth(dlq_name(queue)) == 0


class TestPoison:
    async def test_a_body_that_is_not_an_envelope_is_dead_lettered_without_a_retry(
        self, library_settings: LibrarySettings, sessions: Sessions, broker: Broker, queue: str
    ) -> None:
        attempts = Attempts()

        async def handler(session: AsyncSession, envelope: Envelope, data: Any) -> None:
            attempts.note(envelope)

        async with consuming(library_settings, sessions, queue, handler):
            await publish_raw(library_settings.amqp_url, queue, b"this is not an envelope")
            await eventually(lambda: depth_is(broker, dlq_name(queue), 1), what="the body in the DLQ")
        [dead] = await broker.take_all(dlq_name(queue))
        assert dead.body == b"this is not an envelope"
        assert attempts.ids == []
        assert counted(queue, "retried") == 0
        assert await broker.depth(queue) == 0

    async def test_an_event_type_the_queue_has_no_handler_for_is_dead_lettered(
        self, library_settings: LibrarySettings, sessions: Sessions, broker: Broker, queue: str
    ) -> None:
        stranger = Envelope(type="library.unknown.v1", source="library", tenant="demo", data={})
        async with consuming(library_settings, sessions, queue, apply_ping):  # type: ignore[arg-type]
            await publish_direct(library_settings.amqp_url, stranger, queue=queue)
            await eventually(lambda: depth_is(broker, dlq_name(queue), 1), what="the stranger in the DLQ")
        [dead] = await broker.take_all(dlq_name(queue))
        assert dead.message_id == str(stranger.id)
        assert counted(queue, "retried") == 0

    async def test_a_permanent_error_is_dead_lettered_at_once_without_retries(
        self, library_settings: LibrarySettings, sessions: Sessions, broker: Broker, queue: str
    ) -> None:
        attempts = Attempts()

        async def refuses(session: AsyncSession, envelope: Envelope, data: LibraryPingV1) -> None:
            await apply_ping(session, envelope, data)
            attempts.note(envelope)
            raise PermanentError("this event can never apply here")

        envelope = ping("permanent")
        async with consuming(library_settings, sessions, queue, refuses):  # type: ignore[arg-type]
            await publish_direct(library_settings.amqp_url, envelope, queue=queue)
            await eventually(lambda: depth_is(broker, dlq_name(queue), 1), what="the message in the DLQ")
        assert attempts.ids == [envelope.id]
        assert await applications(sessions, "permanent") == []
        assert counted(queue, "retried") == 0

    async def test_a_handler_that_keeps_failing_is_dead_lettered_after_its_last_retry(
        self, library_settings: LibrarySettings, sessions: Sessions, broker: Broker, queue: str
    ) -> None:
        attempts = Attempts()

        async def always_fails(session: AsyncSession, envelope: Envelope, data: LibraryPingV1) -> None:
            await apply_ping(session, envelope, data)
            attempts.note(envelope)
            raise RuntimeError("this handler always fails")

        envelope = ping("exhausted")
        delays = (50, 100)
        async with consuming(library_settings, sessions, queue, always_fails, retry_delays_ms=delays):  # type: ignore[arg-type]
            await publish_direct(library_settings.amqp_url, envelope, queue=queue)
            await eventually(lambda: depth_is(broker, dlq_name(queue), 1), what="the message in the DLQ")
        assert attempts.ids == [envelope.id] * (1 + len(delays))
        [dead] = await broker.take_all(dlq_name(queue))
        assert dead.message_id == str(envelope.id)
        assert (dead.headers or {})[RETRY_HEADER] == len(delays)
        assert await applications(sessions, "exhausted") == []
        for delay in delays:
            assert await broker.depth(retry_queue_name(queue, delay)) == 0


class TestRedelivery:
    async def test_a_second_copy_of_a_handled_message_is_acked_without_applying_it_again(
        self, library_settings: LibrarySettings, sessions: Sessions, broker: Broker, queue: str
    ) -> None:
        envelope = ping("copied")
        async with consuming(library_settings, sessions, queue, apply_ping):  # type: ignore[arg-type]
            await publish_direct(library_settings.amqp_url, envelope, queue=queue)
            await eventually(lambda: applications(sessions, "copied"), what="the first copy's effect")
            await publish_direct(library_settings.amqp_url, envelope, queue=queue)

            async def second_copy_settled() -> bool:
                return counted(queue, "duplicate") == 1

            await eventually(second_copy_settled, what="the second copy to be recognised")
        assert await applications(sessions, "copied") == [1]
        assert await broker.depth(queue) == 0

    async def test_a_message_redelivered_after_a_crash_between_commit_and_ack_is_applied_once(
        self, library_settings: LibrarySettings, sessions: Sessions, broker: Broker, queue: str
    ) -> None:
        doomed = await aio_pika.connect_robust(library_settings.amqp_url)

        def lose_the_broker(_session: Any) -> None:
            # after_commit runs inside SQLAlchemy's greenlet, so the close can be awaited right here: the
            # runner's ack that follows finds its channel gone, as after a crash or a network cut.
            await_only(doomed.close())

        async def applies_then_loses_the_broker(
            session: AsyncSession, envelope: Envelope, data: LibraryPingV1
        ) -> None:
            await apply_ping(session, envelope, data)
            event.listen(session.sync_session, "after_commit", lose_the_broker, once=True)

        envelope = ping("crashed")
        async with consuming(
            library_settings,
            sessions,
            queue,
            applies_then_loses_the_broker,
            connection=doomed,  # type: ignore[arg-type]
        ):
            await publish_direct(library_settings.amqp_url, envelope, queue=queue)
            await eventually(lambda: applications(sessions, "crashed"), what="the first delivery's commit")
            await eventually(lambda: depth_is(broker, queue, 1), what="the unacked message back in its queue")

        async with consuming(library_settings, sessions, queue, apply_ping):  # type: ignore[arg-type]

            async def duplicate_recognised() -> bool:
                return counted(queue, "duplicate") == 1

            await eventually(duplicate_recognised, what="the redelivery to be recognised", timeout=WAIT_S)
        assert redeliveries_counted(queue) == 1
        assert await applications(sessions, "crashed") == [1]
        assert await broker.depth(queue) == 0
        assert await broker.depth(dlq_name(queue)) == 0


class DeliveredMessage:
    """Stands in for a delivery on one channel: its tag, and the acks sent for it."""

    def __init__(self, tag: int, acks: list[tuple[int, bool]]) -> None:
        self.delivery_tag = tag
        self._acks = acks

    async def ack(self, multiple: bool = False) -> None:
        self._acks.append((self.delivery_tag, multiple))


class TestAcknowledgingBatches:
    """One ack with multiple=True covers a committed batch, never a delivery still being handled; committed
    deliveries behind one still being handled are acked one by one."""

    def deliveries(self, count: int) -> tuple[Acknowledgements, list[Any], list[tuple[int, bool]]]:
        sent: list[tuple[int, bool]] = []
        acks = Acknowledgements(channel=object())
        messages = [DeliveredMessage(tag, sent) for tag in range(1, count + 1)]
        for message in messages:
            acks.received(message)  # type: ignore[arg-type]
        return acks, messages, sent

    async def test_a_committed_batch_is_acked_with_one_multiple_ack_of_its_last_delivery(self) -> None:
        acks, messages, sent = self.deliveries(3)
        await acks.committed(messages)
        assert sent == [(3, True)]

    async def test_a_later_batch_committing_first_is_acked_one_by_one_not_held_behind_the_earlier(
        self,
    ) -> None:
        acks, messages, sent = self.deliveries(6)
        await acks.committed(messages[3:])
        # Deliveries 1-3 are still being handled: a multiple ack of 6 would cover them, and holding 4-6 back
        # would let one slow delivery fill the prefetch and stop the queue (f4).
        assert sent == [(4, False), (5, False), (6, False)]
        await acks.committed(messages[:3])
        assert sent[3:] == [(3, True)]

    async def test_a_delivery_settled_on_its_own_leaves_nothing_behind(self) -> None:
        acks, messages, sent = self.deliveries(4)
        await acks.committed(messages[1:])
        assert sent == [(2, False), (3, False), (4, False)]
        acks.settled(messages[0])  # e.g. rejected to the dead-letter queue, or retried alone
        await acks.flush()
        assert sent == [(2, False), (3, False), (4, False)]
        await acks.committed([])
        assert len(sent) == 3

    async def test_a_long_held_delivery_never_holds_more_than_itself(self) -> None:
        acks, messages, sent = self.deliveries(100)
        for start in range(1, 100, 9):
            await acks.committed(messages[start : start + 9])
        assert {tag for tag, _ in sent} == set(range(2, 101))  # everything but the one still being handled

    async def test_batches_committing_at_once_each_ack_their_own_deliveries_exactly_once(self) -> None:
        """Flushes interleave at their awaits (each ack is a write to the broker): one must never take a
        delivery another already took (the bus bench met a KeyError there, and the rest of that batch stayed
        unacked, counting against the prefetch)."""
        sent: list[tuple[int, bool]] = []
        acks = Acknowledgements(channel=object())

        class SlowAck(DeliveredMessage):
            async def ack(self, multiple: bool = False) -> None:
                await asyncio.sleep(0)  # the broker write: another flush runs here
                await super().ack(multiple)

        messages = [SlowAck(tag, sent) for tag in range(1, 41)]
        for message in messages:
            acks.received(message)  # type: ignore[arg-type]
        # Delivery 1 is still being handled; eight batches behind it commit at the same moment.
        await asyncio.gather(*(acks.committed(messages[start : start + 5]) for start in range(1, 40, 5)))
        assert sorted(tag for tag, _ in sent) == list(range(2, 41)) and not any(
            multiple for _, multiple in sent
        )
        await acks.committed(messages[:1])
        assert sent[-1] == (1, True)
