"""Messages that arrive together commit together, and one failing handler costs the others nothing."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yui_common import outbox
from yui_common.bus.topology import dlq_name
from yui_common.events import Envelope
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
