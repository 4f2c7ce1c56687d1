"""Messages that arrive together commit together, and one failing handler costs the others nothing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yui_common import outbox
from yui_common.bus.consumer import Subscription
from yui_common.bus.topology import dlq_name
from yui_common.events import Envelope, EventData, event
from yui_common.metrics import CONSUMED
from yui_common.worker import Worker, declare_topology

from tests.reliability.pings import PingV1, ReliabilitySettings, apply_ping, effects, ping_subscription
from tests.reliability.test_outbox_reliability import queue_depths, relay_everything, running
from tests.support.stack import eventually

Sessions = async_sessionmaker[AsyncSession]
COUNT = 60
FAILING = 17


class TestBatchedConsumption:
    async def test_a_failing_handler_in_a_batch_is_retried_alone_while_the_rest_apply_exactly_once(
        self, reliability_sessions: Sessions
    ) -> None:
        settings = ReliabilitySettings(exchange="reliability.batches", consumer_batch_max=32)
        queue = "reliability.batches"
        attempts: list[int] = []

        async def apply_or_fail(session: AsyncSession, envelope: Envelope, data: PingV1) -> None:
            if data.fail:
                attempts.append(data.sequence)
                raise RuntimeError("this handler always fails")
            await apply_ping(session, envelope, data)

        subscription = ping_subscription(queue, apply_or_fail)  # type: ignore[arg-type]
        await declare_topology(settings, [subscription])
        # Everything is on the queue before the consumer starts, so it arrives in batches.
        async with reliability_sessions() as session, session.begin():
            for sequence in range(COUNT):
                data = PingV1(scenario="batches", sequence=sequence, fail=sequence == FAILING)
                await outbox.add_event(session, data, tenant="demo")
        await relay_everything(settings, reliability_sessions)
        duplicates_before = CONSUMED.labels(queue, "duplicate")._value.get()  # type: ignore[attr-defined]

        async with running(Worker(settings=settings, subscriptions=[subscription], run_relay=False)):

            async def settled() -> bool:
                depths = await queue_depths(settings, dlq_name(queue))
                return depths[dlq_name(queue)] == 1

            await eventually(settled, what="the failing message to reach the dead-letter queue")

        async with reliability_sessions() as session:
            applied = await effects(session, "batches")
        assert applied == [(n, 1) for n in range(COUNT) if n != FAILING]
        # First inside a batch, then alone, then once per retry delay: never blocking the others.
        assert attempts == [FAILING] * (2 + len(settings.retry_delays_ms))
        assert CONSUMED.labels(queue, "duplicate")._value.get() == duplicates_before  # type: ignore[attr-defined]


@event("reliability.pong.v1")
class PongV1(EventData):
    """A second test-only event type, handled one by one beside the batched pings."""

    sequence: int


class TestBatchHandlers:
    """perf3: a batch handler applies a run of its events in one call, in delivery order, exactly once."""

    async def test_perf3_runs_of_a_batched_type_apply_in_one_call_each_in_order_beside_single_handlers(
        self, reliability_sessions: Sessions
    ) -> None:
        settings = ReliabilitySettings(
            exchange="reliability.batch-handlers", consumer_batch_max=32, consumer_concurrency=1
        )
        queue = "reliability.batch-handlers"
        applied: list[tuple[str, int]] = []
        calls: list[int] = []

        async def apply_pings(session: AsyncSession, events: Sequence[tuple[Envelope, PingV1]]) -> None:
            calls.append(len(events))
            for envelope, data in events:
                await apply_ping(session, envelope, data)
                applied.append(("ping", data.sequence))

        async def apply_pong(session: AsyncSession, envelope: Envelope, data: PongV1) -> None:
            applied.append(("pong", data.sequence))

        subscription = Subscription(
            queue=queue,
            handlers={PongV1.event_type: apply_pong},
            batch_handlers={PingV1.event_type: apply_pings},
        )
        await declare_topology(settings, [subscription])
        staged: list[tuple[str, int]] = []
        async with reliability_sessions() as session, session.begin():
            for sequence in range(COUNT):
                if sequence in (10, 40):
                    await outbox.add_event(session, PongV1(sequence=sequence), tenant="demo")
                    staged.append(("pong", sequence))
                await outbox.add_event(
                    session, PingV1(scenario="batch-handlers", sequence=sequence), tenant="demo"
                )
                staged.append(("ping", sequence))
        await relay_everything(settings, reliability_sessions)

        async with running(Worker(settings=settings, subscriptions=[subscription], run_relay=False)):

            async def committed() -> bool:
                async with reliability_sessions() as session:
                    return len(await effects(session, "batch-handlers")) == COUNT

            await eventually(committed, what="every ping's effect to commit")
            await eventually(lambda: len(applied) == len(staged), what="both pongs to be applied")

        async with reliability_sessions() as session:
            assert await effects(session, "batch-handlers") == [(n, 1) for n in range(COUNT)]

        assert applied == staged
        assert sum(calls) == COUNT and len(calls) < COUNT // 4  # runs, not one call per event

    async def test_perf3_a_failing_batch_falls_back_to_one_event_at_a_time_and_only_the_bad_one_is_retried(
        self, reliability_sessions: Sessions
    ) -> None:
        settings = ReliabilitySettings(exchange="reliability.batch-failing", consumer_batch_max=32)
        queue = "reliability.batch-failing"
        attempts: list[int] = []

        async def apply_or_fail(session: AsyncSession, events: Sequence[tuple[Envelope, PingV1]]) -> None:
            for envelope, data in events:
                if data.fail:
                    attempts.append(data.sequence)
                    raise RuntimeError("this event always fails")
                await apply_ping(session, envelope, data)

        subscription = Subscription(queue=queue, batch_handlers={PingV1.event_type: apply_or_fail})
        await declare_topology(settings, [subscription])
        async with reliability_sessions() as session, session.begin():
            for sequence in range(COUNT):
                data = PingV1(scenario="batch-failing", sequence=sequence, fail=sequence == FAILING)
                await outbox.add_event(session, data, tenant="demo")
        await relay_everything(settings, reliability_sessions)

        async with running(Worker(settings=settings, subscriptions=[subscription], run_relay=False)):

            async def settled() -> bool:
                depths = await queue_depths(settings, dlq_name(queue))
                return depths[dlq_name(queue)] == 1

            await eventually(settled, what="the failing event to reach the dead-letter queue")

        async with reliability_sessions() as session:
            assert await effects(session, "batch-failing") == [(n, 1) for n in range(COUNT) if n != FAILING]
        assert attempts == [FAILING] * (2 + len(settings.retry_delays_ms))
