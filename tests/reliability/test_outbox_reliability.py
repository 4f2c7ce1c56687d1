"""f1–f4: outbox, relay and consumer keep their promises under faults, on real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from uuid import UUID

import aio_pika
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yui_common import outbox
from yui_common.app import create_service_app
from yui_common.auth import Principal
from yui_common.bus.consumer import RETRY_HEADER
from yui_common.bus.topology import declare_exchange, dlq_name, retry_queue_name
from yui_common.db import asyncpg_dsn, create_engine, create_sessionmaker
from yui_common.events import Envelope
from yui_common.migrations import migrate
from yui_common.outbox import OutboxRelay
from yui_common.worker import Worker, declare_topology

from tests.reliability.pings import PingV1, ReliabilitySettings, apply_ping, effects, ping_subscription
from tests.support.infrastructure import REPO, Infrastructure
from tests.support.stack import eventually, reset_database

Sessions = async_sessionmaker[AsyncSession]


async def write_pings(sessions: Sessions, scenario: str, sequences: range, *, per_transaction: int) -> None:
    """Stage pings through the outbox, ``per_transaction`` events per committed transaction."""
    for first in range(sequences.start, sequences.stop, per_transaction):
        async with sessions() as session, session.begin():
            for sequence in range(first, min(first + per_transaction, sequences.stop)):
                await outbox.add_event(session, PingV1(scenario=scenario, sequence=sequence), tenant="demo")


async def scalar(sessions: Sessions, sql: str, **params: object) -> int:
    async with sessions() as session:
        return int((await session.execute(text(sql), params)).scalar_one())


async def unpublished(sessions: Sessions) -> int:
    return await scalar(sessions, "SELECT count(*) FROM outbox WHERE published_at IS NULL")


async def relay_everything(settings: ReliabilitySettings, sessions: Sessions) -> None:
    """Publish every staged outbox row with the real relay, then return."""
    connection = await aio_pika.connect_robust(settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await declare_exchange(channel, settings.exchange)
        relay = OutboxRelay(
            sessionmaker=sessions,
            listen_dsn=asyncpg_dsn(settings.dsn),
            channel=channel,
            exchange_name=settings.exchange,
        )
        while await relay.sweep_once():
            pass


async def queue_depths(settings: ReliabilitySettings, *queues: str) -> dict[str, int]:
    """Messages ready in each queue (passive declare; every queue must exist)."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        depths = {}
        for queue in queues:
            declared = await channel.declare_queue(queue, passive=True)
            depths[queue] = declared.declaration_result.message_count or 0
        return depths


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


@pytest.fixture(scope="module")
async def consent_sessions(infra: Infrastructure) -> AsyncIterator[Sessions]:
    from consent.settings import Settings

    # consent's real schema in a database of its own, so the shared stack's consent database is untouched.
    settings = Settings(database_prefix=f"{infra.database_prefix}reliability_")
    await reset_database(settings)
    await asyncio.to_thread(migrate, REPO / "services" / "consent", settings)
    engine = create_engine(settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


class TestBusinessChangeAndEventCommitTogether:
    """f1: the outbox row lives and dies with the business transaction."""

    async def subject_with_active_consent(self, sessions: Sessions, principal: Principal) -> UUID:
        from consent.consents import service as consents
        from consent.subjects import service as subjects

        async with sessions() as session, session.begin():
            subject = await subjects.register_subject(
                session,
                principal=principal,
                name="結 一郎",
                name_kana="ユイ イチロウ",
                birth_date=date(1940, 1, 2),
                municipality_code="232360",
            )
            await consents.give_consent(
                session,
                principal=principal,
                subject_id=subject.id,
                given_by="subject",
                proxy_name=None,
                proxy_relation=None,
                given_on=date.today(),
            )
        return subject.id

    async def withdrawal_state(self, sessions: Sessions, subject_id: UUID) -> tuple[int, int, str]:
        """(withdrawals, consent.withdrawn.v1 outbox rows, consent status) of one subject."""
        async with sessions() as session:
            withdrawals = (
                await session.execute(
                    text("SELECT count(*) FROM withdrawals WHERE subject_id = :s"), {"s": subject_id}
                )
            ).scalar_one()
            events = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM outbox WHERE event_type = 'consent.withdrawn.v1' "
                        "AND envelope->>'subject' = :s"
                    ),
                    {"s": str(subject_id)},
                )
            ).scalar_one()
            status = (
                await session.execute(
                    text("SELECT status FROM consents WHERE subject_id = :s"), {"s": subject_id}
                )
            ).scalar_one()
        return int(withdrawals), int(events), str(status)

    async def withdraw(self, session: AsyncSession, principal: Principal, subject_id: UUID) -> UUID:
        from consent.withdrawals import service

        withdrawal = await service.withdraw_consent(
            session,
            principal=principal,
            subject_id=subject_id,
            requested_by="subject",
            requester_name=None,
            requester_relation=None,
            participants=("timeline", "notify"),
            mode="stop",
        )
        return withdrawal.id

    async def test_f1_failure_after_the_event_is_staged_leaves_neither_withdrawal_nor_event(
        self, consent_sessions: Sessions
    ) -> None:
        from uuid6 import uuid7

        principal = Principal(user_id=uuid7(), tenant="demo", facility_id=uuid7(), roles=frozenset({"staff"}))
        subject_id = await self.subject_with_active_consent(consent_sessions, principal)
        staged_inside: tuple[int, int] | None = None

        class FailureAfterStaging(Exception):
            pass

        with pytest.raises(FailureAfterStaging):
            async with consent_sessions() as session, session.begin():
                withdrawal_id = await self.withdraw(session, principal, subject_id)
                # Inside the transaction both rows exist: the withdrawal and its event (written at the commit,
                # or now, when asked for; perf3).
                await outbox.stage_pending(session)
                staged_inside = (
                    (
                        await session.execute(
                            text("SELECT count(*) FROM withdrawals WHERE id = :w"), {"w": withdrawal_id}
                        )
                    ).scalar_one(),
                    (
                        await session.execute(
                            text("SELECT count(*) FROM outbox WHERE envelope->'data'->>'withdrawal_id' = :w"),
                            {"w": str(withdrawal_id)},
                        )
                    ).scalar_one(),
                )
                raise FailureAfterStaging

        assert staged_inside == (1, 1)
        assert await self.withdrawal_state(consent_sessions, subject_id) == (0, 0, "active")

    async def test_f1_withdrawal_and_its_event_commit_together(self, consent_sessions: Sessions) -> None:
        from uuid6 import uuid7

        principal = Principal(user_id=uuid7(), tenant="demo", facility_id=uuid7(), roles=frozenset({"staff"}))
        subject_id = await self.subject_with_active_consent(consent_sessions, principal)
        async with consent_sessions() as session, session.begin():
            await self.withdraw(session, principal, subject_id)

        assert await self.withdrawal_state(consent_sessions, subject_id) == (1, 1, "withdrawn")


class TestNothingIsLost:
    """f2: a burst through outbox, relay, broker restart and consumer ends with every effect applied once."""

    EVENTS = 5_000

    @pytest.mark.serial
    async def test_f2_burst_survives_a_broker_restart_with_every_event_applied_exactly_once(
        self, infra: Infrastructure, reliability_sessions: Sessions
    ) -> None:
        settings = ReliabilitySettings(exchange="reliability.f2")
        queue = "reliability.f2-burst"
        subscription = ping_subscription(queue)
        await declare_topology(settings, [subscription])
        half = self.EVENTS // 2

        async def applied() -> int:
            return await scalar(
                reliability_sessions, "SELECT count(*) FROM ping_effects WHERE scenario = 'f2'"
            )

        async with running(Worker(settings=settings, subscriptions=[subscription])):
            await write_pings(reliability_sessions, "f2", range(half), per_transaction=20)
            await eventually(
                lambda: applied_at_least(applied, 500), timeout=120, what="the burst to be flowing"
            )
            stopped, stop_output = infra.control_broker("stop_app")
            try:
                assert stopped == 0, stop_output
                # Written while the broker is away: committed, waiting in the outbox.
                await write_pings(reliability_sessions, "f2", range(half, self.EVENTS), per_transaction=20)
                assert await unpublished(reliability_sessions) >= self.EVENTS - half
            finally:
                started, start_output = infra.control_broker("start_app")
            assert started == 0, start_output

            await eventually(
                lambda: applied_at_least(applied, self.EVENTS),
                timeout=240,
                interval=0.5,
                what=f"all {self.EVENTS} effects after the broker restart",
            )
            await eventually(
                lambda: nothing_unpublished(reliability_sessions),
                timeout=60,
                what="the outbox to be fully published",
            )

        found = await effects_of(reliability_sessions, "f2")
        assert [sequence for sequence, _ in found] == list(range(self.EVENTS))
        assert {applications for _, applications in found} == {1}
        inbox_rows = await scalar(
            reliability_sessions, "SELECT count(*) FROM inbox WHERE consumer = :q", q=queue
        )
        assert inbox_rows == self.EVENTS
        assert await queue_depths(settings, queue, dlq_name(queue)) == {queue: 0, dlq_name(queue): 0}


async def applied_at_least(count: Callable[[], Awaitable[int]], wanted: int) -> bool:
    return await count() >= wanted


async def nothing_unpublished(sessions: Sessions) -> bool:
    return await unpublished(sessions) == 0


async def effects_of(sessions: Sessions, scenario: str) -> list[tuple[int, int]]:
    async with sessions() as session:
        return await effects(session, scenario)


# Serial: it waits on the broker's redelivery and retry timing, which a busy parallel phase stretches.
@pytest.mark.serial
class TestCrashBetweenCommitAndAck:
    """f3: a worker that dies after its commit and before its ack gets the message again, applies it once."""

    async def run_consumer(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.reliability.crashing_consumer",
            *args,
            cwd=REPO,
            env=dict(os.environ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    async def test_f3_worker_killed_before_its_ack_gets_the_message_again_and_applies_it_once(
        self, reliability_sessions: Sessions, tmp_path: Path
    ) -> None:
        settings = ReliabilitySettings(exchange="reliability.f3")
        queue = "reliability.f3-crash"
        await declare_topology(settings, [ping_subscription(queue)])
        async with reliability_sessions() as session, session.begin():
            envelope = await outbox.add_event(session, PingV1(scenario="f3", sequence=0), tenant="demo")
        await relay_everything(settings, reliability_sessions)
        marker = tmp_path / "killed"
        args = ("--exchange", settings.exchange, "--queue", queue, "--marker", str(marker), "--expect", "1")

        code, _, err = await self.run_consumer(*args)
        assert code == -signal.SIGKILL, err
        assert marker.read_text() == str(envelope.id)
        # The kill came after the commit: the effect and the inbox claim are there, the ack is not.
        assert await effects_of(reliability_sessions, "f3") == [(0, 1)]

        code, out, err = await self.run_consumer(*args)
        assert code == 0, err
        report = json.loads(out)
        assert report["deliveries"] == [{"message_id": str(envelope.id), "redelivered": True}]
        assert (report["applied"], report["duplicate"], report["redeliveries_counted"]) == (0, 1, 1)
        assert await effects_of(reliability_sessions, "f3") == [(0, 1)]
        claimed = await scalar(
            reliability_sessions,
            "SELECT count(*) FROM inbox WHERE consumer = :q AND message_id = :m",
            q=queue,
            m=envelope.id,
        )
        assert claimed == 1
        assert await queue_depths(settings, queue, dlq_name(queue)) == {queue: 0, dlq_name(queue): 0}


# Serial: it waits on the broker's redelivery and retry timing, which a busy parallel phase stretches.
@pytest.mark.serial
class TestPoisonGoesToTheDeadLetterQueue:
    """f4: poison is dead-lettered after bounded retries, the rest keeps flowing, /metrics shows the DLQ."""

    GOOD = 200

    async def test_f4_poison_is_dead_lettered_while_other_messages_flow_and_dlq_depth_is_exported(
        self, reliability_sessions: Sessions
    ) -> None:
        settings = ReliabilitySettings(exchange="reliability.f4")
        queue = "reliability.f4-poison"
        attempts: list[UUID] = []
        second_attempt_started = asyncio.Event()
        release_failing = asyncio.Event()

        async def apply_or_fail(session: AsyncSession, envelope: Envelope, data: PingV1) -> None:
            if not data.fail:
                await apply_ping(session, envelope, data)
                return
            attempts.append(envelope.id)
            if len(attempts) == 2:
                # Hold the failing message in the middle of its retries while the good ones go through.
                second_attempt_started.set()
                await release_failing.wait()
            raise RuntimeError("this handler always fails")

        subscription = ping_subscription(queue, apply_or_fail)  # type: ignore[arg-type]
        await declare_topology(settings, [subscription])
        app = create_service_app(
            settings=settings,
            title="reliability",
            description="f4 metrics",
            routers=[],
            consumer_queues=[queue],
        )

        async def dlq_depth_exported(client: httpx.AsyncClient, depth: int) -> bool:
            body = (await client.get("/metrics")).text
            return f'yui_dlq_depth{{queue="{queue}"}} {float(depth)}' in body

        async with (
            LifespanManager(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://reliability.test"
            ) as client,
            running(Worker(settings=settings, subscriptions=[subscription])),
        ):
            await publish_raw(settings, b"this is not an envelope")
            async with reliability_sessions() as session, session.begin():
                failing = await outbox.add_event(
                    session, PingV1(scenario="f4-failing", sequence=0, fail=True), tenant="demo"
                )
            await eventually(second_attempt_started.is_set, what="the failing message's second attempt")

            await write_pings(reliability_sessions, "f4", range(self.GOOD), per_transaction=10)
            good = await eventually(
                lambda: _all_good_applied(reliability_sessions, self.GOOD),
                what="the good messages to be applied",
            )
            assert good == [(n, 1) for n in range(self.GOOD)]
            # Meanwhile the not-an-envelope body is already dead-lettered; the failing one is still retrying.
            await eventually(lambda: dlq_depth_exported(client, 1), what="the poison body in the DLQ")
            assert attempts == [failing.id, failing.id]

            release_failing.set()
            await eventually(lambda: dlq_depth_exported(client, 2), what="the failing message in the DLQ")

        assert attempts == [failing.id] * (1 + len(settings.retry_delays_ms))
        assert await effects_of(reliability_sessions, "f4-failing") == []
        dead = await dead_letters(settings, dlq_name(queue))
        assert [m.body for m in dead if m.message_id != str(failing.id)] == [b"this is not an envelope"]
        [failed] = [m for m in dead if m.message_id == str(failing.id)]
        assert failed.headers[RETRY_HEADER] == len(settings.retry_delays_ms)
        retry_queues = [retry_queue_name(queue, delay) for delay in settings.retry_delays_ms]
        assert await queue_depths(settings, queue, *retry_queues) == dict.fromkeys([queue, *retry_queues], 0)


async def _all_good_applied(sessions: Sessions, count: int) -> list[tuple[int, int]] | None:
    found = await effects_of(sessions, "f4")
    return found if len(found) >= count else None


async def publish_raw(settings: ReliabilitySettings, body: bytes) -> None:
    """A message that is not an envelope, routed like a ping (publisher-confirmed)."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_exchange(channel, settings.exchange)
        await exchange.publish(
            aio_pika.Message(body=body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=PingV1.event_type,
        )


async def dead_letters(settings: ReliabilitySettings, dlq: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Read the DLQ's messages without removing them (the channel closes with them unacked)."""
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(dlq, passive=True)
        found = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            found.append(message)
        return found
