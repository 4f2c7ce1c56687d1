"""Bus benchmark: outbox → relay → RabbitMQ → inbox-guarded consumer, beside a raw outbox and raw aio-pika.

Measures in one run, with the processes laid out as they are deployed:
  (a) throughput: N events committed to the outbox (transactions of 100 events) by a *writer* process (an
      API's role), published by a *relay* process (``Worker`` running ``OutboxRelay``, the producer's worker)
      and consumed by a *consumer* process (``Worker`` running ``ConsumerRunner``: inbox claim + effect +
      commit, then ack). Events/s = N / (first write → last consumer commit);
  (b) latency at a paced rate (default 500 events/s, one event per transaction): outbox insert commit →
      consumer commit, p50/p99;
  (c) the raw baseline: a *publisher* process (publisher confirms, 500 in flight, as the relay keeps them)
      and a *consumer* process acking each message, on a quorum queue declared with the same arguments as
      every Yui queue (x-queue-type quorum, x-delivery-limit, dead-letter exchange); throughput and latency
      at the same rate, publish start → ack: the ceiling;
  (d) the raw outbox: the library's work written by hand with asyncpg and aio-pika, no yui_common: a writer
      INSERTs events (transactions of 100 in the burst, one per transaction paced) and NOTIFYs; a relay takes
      rows with SKIP LOCKED, publishes them with confirms and DELETEs them in that transaction; a consumer
      claims each batch in an inbox table, writes the effects, commits, then acks (multiple). Its bursts and the
      library's alternate (``--rounds``, the median counts). The paced phases write one event per transaction,
      as an API's requests do, which costs a writer several times more per event than a transaction of 100: so
      the raw outbox is first offered events that way at its burst's rate for a few seconds, what comes through
      per second is its saturation in that shape, and every paced phase runs at half of it unless ``--rate`` is
      given. (At half the burst's rate instead, the raw outbox itself saturated the machine: p99 0.3-0.5 s.)

Besides the figures, each phase records the CPU milliseconds per event of every process (and how busy the
whole machine was), so a run on a shared machine can be read for where the time went.

Every process runs on this machine; times cross processes through the wall clock (one clock, one machine).
Uses its own database (``yui_bench_bus``) and RabbitMQ vhost (``yui-bench``), both recreated at start.
Run: ``uv run python bench/bus.py [--events 5000] [--rounds 3] [--seconds 10] [--rate R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import aio_pika
import asyncpg
import sqlalchemy as sa
import uuid6
from pydantic_settings import SettingsConfigDict
from sqlalchemy import event as orm_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from yui_common import outbox
from yui_common.bus.consumer import Subscription
from yui_common.bus.topology import DEAD_LETTER_EXCHANGE, declare_consumer_queue, dlq_name
from yui_common.db import asyncpg_dsn, create_engine, create_sessionmaker, ensure_database
from yui_common.events import Envelope, EventData, event
from yui_common.runtime import run
from yui_common.schema import infrastructure_tables
from yui_common.settings import CommonSettings
from yui_common.worker import Worker, declare_topology

RESULTS = Path(__file__).resolve().parent / "results"
VHOST = "yui-bench"
QUEUE = "bench.bus"
RAW_EXCHANGE = "bench.raw"
RAW_QUEUE = "bench.raw"
RAW_OUTBOX_QUEUE = "bench.raw-outbox"
RAW_OUTBOX_CHANNEL = "bench_raw_outbox"
THROUGHPUT_TARGET = 0.8  # of the raw outbox
P99_TARGET_MS = 50.0
PHASE_LIMIT_S = 300.0  # a bound on any one phase, so a broken pipeline ends the run instead of hanging it
WARMUP_S = 1.0
SATURATION_S = (
    3.0  # the raw outbox offered one event per transaction at its burst's rate, to find its saturation
)
WARMUP_EVENTS = (
    500  # the raw outbox warms up with a small burst: its paced rate is only known after its burst
)


@event("bench.pinged.v1")
class BenchPingedV1(EventData):
    sequence: int


class BenchBusSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="YUI_BENCH_BUS_", extra="ignore")
    service_name: ClassVar[str] = "bench_bus"


# Connections each role's pool keeps (PostgreSQL is shared; the default of 10 per process is for the consumer,
# which runs up to ``consumer_prefetch`` handlers at once).
POOL_SIZES = {"writer": 5, "relay": 2, "consumer": 10, "raw-outbox-writer": 5}


def bench_settings(amqp_base: str, role: str | None = None) -> BenchBusSettings:
    return BenchBusSettings(
        database_prefix="yui_",
        amqp_url=f"{amqp_base.rstrip('/')}/{VHOST}",
        database_pool_size=POOL_SIZES.get(role or "", 2),
    )


def rabbitmqctl(*args: str) -> None:
    result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0 and args[0] != "delete_vhost":
        raise SystemExit(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip()}")


async def prepare(settings: BenchBusSettings, subscription: Subscription) -> None:
    """A fresh vhost and database (outbox/inbox tables of every service, plus the effect table) and queues."""
    rabbitmqctl("delete_vhost", VHOST)
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    server = await asyncpg.connect(asyncpg_dsn(settings.postgres_url.rstrip("/") + "/postgres"))
    try:
        await server.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')
    finally:
        await server.close()
    await ensure_database(settings)
    metadata = sa.MetaData()
    infrastructure_tables(metadata)
    sa.Table(
        "bench_effects",
        metadata,
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("sequence", sa.Integer, nullable=False),
    )
    engine = create_async_engine(settings.dsn)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        for statement in RAW_OUTBOX_SCHEMA:
            await conn.exec_driver_sql(statement)
    await engine.dispose()
    await declare_topology(settings, [subscription])
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_exchange(RAW_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        # The same arguments as every Yui consumer queue: quorum, delivery limit, dead letters to <queue>.dlq.
        queue = await declare_consumer_queue(
            channel,
            exchange_name=RAW_EXCHANGE,
            queue=RAW_QUEUE,
            routing_keys=["raw"],
            delivery_limit=settings.delivery_limit,
            retry_delays_ms=(),
        )
        arguments = queue.arguments or {}
        assert (
            arguments["x-queue-type"] == "quorum"
            and arguments["x-dead-letter-exchange"] == DEAD_LETTER_EXCHANGE
        )
        await declare_consumer_queue(
            channel,
            exchange_name=RAW_EXCHANGE,
            queue=RAW_OUTBOX_QUEUE,
            routing_keys=[BenchPingedV1.event_type],
            delivery_limit=settings.delivery_limit,
            retry_delays_ms=(),
        )


# The raw outbox's own tables: what a hand-written outbox needs and nothing more.
RAW_OUTBOX_SCHEMA = (
    "CREATE TABLE raw_outbox (id uuid PRIMARY KEY, routing_key text NOT NULL, body bytea NOT NULL, "
    "headers jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX raw_outbox_created ON raw_outbox (created_at)",
    "CREATE TABLE raw_inbox (consumer text NOT NULL, message_id uuid NOT NULL, PRIMARY KEY (consumer, message_id))",
    "CREATE TABLE raw_effects (event_id uuid PRIMARY KEY, sequence integer NOT NULL)",
)


async def paced(rate: float, count: int, send: Callable[[int], Coroutine[Any, Any, None]]) -> float:
    """Start ``send(i)`` at t0 + i/rate, concurrently, so one slow send never shifts the schedule.

    Returns the rate actually achieved."""
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)
    return count / (time.perf_counter() - start)


# --- roles: each runs in its own process, reads commands on stdin and answers one JSON line each ----------


def answer(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def commands() -> Any:
    """Command lines from the orchestrator; ``cpu`` (this process's CPU seconds so far) is answered here."""
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.split() == ["cpu"]:
            answer(time.process_time())
        else:
            yield line.split()


async def role_writer(settings: BenchBusSettings) -> None:
    """The API's part: business transactions that stage events in the outbox."""
    # An API's engine, as the services make it (no pre-ping since issue 13); a paced send that finds every
    # connection busy waits for one (the schedule goes on) instead of failing after SQLAlchemy's default 30 s.
    engine = create_engine(settings, pool_timeout=PHASE_LIMIT_S)
    sessions = create_sessionmaker(engine)
    sequence = 0

    async def write(count: int, per_transaction: int) -> None:
        for first in range(0, count, per_transaction):
            size = min(per_transaction, count - first)

            async def transaction(first: int = first, size: int = size) -> None:
                async with sessions() as session, session.begin():
                    for n in range(sequence + first, sequence + first + size):
                        await outbox.add_event(session, BenchPingedV1(sequence=n), tenant="bench")

            await committed_with_retries(transaction)

    async with sessions() as session:  # a connection, before anything is timed
        await session.execute(text("SELECT 1"))
    answer("ready")
    async for command in commands():
        if command[0] == "burst":
            count, per_transaction = int(command[1]), int(command[2])
            start = time.time()
            await write(count, per_transaction)
            sequence += count
            answer({"start": start, "written": time.time()})
        elif command[0] == "paced":
            rate, count = float(command[1]), int(command[2])
            answer(await paced_outbox_writes(sessions, rate, count, sequence))
            sequence += count
    await engine.dispose()


async def paced_outbox_writes(
    sessions: async_sessionmaker[AsyncSession], rate: float, count: int, first_sequence: int
) -> dict[str, Any]:
    """One event per transaction, at ``rate``; the wall-clock time each commit returned, by event id."""
    committed: dict[str, float] = {}

    async def send(n: int) -> None:
        async def transaction() -> None:
            async with sessions() as session:
                async with session.begin():
                    event = BenchPingedV1(sequence=first_sequence + n)
                    envelope = await outbox.add_event(session, event, tenant="bench")
                committed[str(envelope.id)] = time.time()

        await committed_with_retries(transaction)

    achieved = await paced(rate, count, send)
    return {"committed": committed, "achieved_rate": achieved}


async def committed_with_retries(
    transaction: Callable[[], Coroutine[Any, Any, None]], attempts: int = 10
) -> None:
    """Run a writer transaction again when the database refuses a connection (PostgreSQL is shared: another
    suite can hold every connection slot for a moment), as a client would retry an API call."""
    for attempt in range(attempts):
        try:
            await transaction()
            return
        except (OSError, asyncpg.TooManyConnectionsError, sa.exc.DBAPIError) as error:
            if attempt == attempts - 1:
                raise
            print(f"writer: retrying a transaction after {type(error).__name__}", file=sys.stderr)
            await asyncio.sleep(0.5)


async def role_relay(settings: BenchBusSettings) -> None:
    """The producing service's worker: only the outbox relay."""
    worker = Worker(settings=settings, subscriptions=[], run_relay=True)
    await worker.start()
    answer("ready")
    async for _ in commands():
        pass
    await worker.stop()


class ConsumerCommits:
    """Wall-clock time of each consumer commit, by event id (an ``after_commit`` hook on every session)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.expected = 0
        self.done = asyncio.Event()
        orm_event.listen(Session, "after_commit", self._committed)

    def expect(self, count: int) -> None:
        self.at, self.expected, self.done = {}, count, asyncio.Event()

    def _committed(self, session: Session) -> None:
        committed_at = time.time()
        # A batch commits several events at once: each of them counts as committed now.
        for event_id in session.info.pop("bench_events", ()):
            self.at[event_id] = committed_at
        if self.expected and len(self.at) >= self.expected:
            self.done.set()


async def role_consumer(settings: BenchBusSettings) -> None:
    """The consuming service's worker: the real ConsumerRunner with an inbox-guarded handler."""
    commits = ConsumerCommits()

    async def apply_pings(session: AsyncSession, events: Sequence[tuple[Envelope, BenchPingedV1]]) -> None:
        # A batch handler, as the raw outbox's consumer writes its effects: one statement for the batch.
        await session.execute(
            _EFFECTS, {"ids": [e.id for e, _ in events], "sequences": [d.sequence for _, d in events]}
        )
        session.info.setdefault("bench_events", []).extend(str(e.id) for e, _ in events)

    worker = Worker(settings=settings, subscriptions=[bus_subscription(apply_pings)], run_relay=False)
    await worker.start()
    answer("ready")
    async for command in commands():
        commits.expect(int(command[1]))
        answer({"committed": await _when_done(commits.done, commits.at)})
    await worker.stop()


async def _when_done(done: asyncio.Event, times: dict[Any, float]) -> dict[Any, float]:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), PHASE_LIMIT_S)
    return times


_EFFECTS = text(
    "INSERT INTO bench_effects (event_id, sequence) "
    "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:sequences AS int[]))"
)


def bus_subscription(handler: Any = None) -> Subscription:
    async def unused(*_: Any) -> None:
        raise AssertionError("only the consumer role handles events")

    return Subscription(queue=QUEUE, batch_handlers={BenchPingedV1.event_type: handler or unused})


async def role_raw_publisher(settings: BenchBusSettings) -> None:
    connection = await aio_pika.connect_robust(settings.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(RAW_EXCHANGE)
    sequence = 0

    async def publish(n: int) -> None:
        await exchange.publish(
            aio_pika.Message(body=str(n).encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key="raw",
            mandatory=False,
        )

    await publish(-1)
    answer("ready")
    async for command in commands():
        if command[0] == "burst":
            count, window = int(command[1]), int(command[2])
            start = time.time()
            for first in range(0, count, window):
                await asyncio.gather(
                    *(publish(sequence + n) for n in range(first, min(first + window, count)))
                )
            sequence += count
            answer({"start": start, "written": time.time()})
        elif command[0] == "paced":
            rate, count = float(command[1]), int(command[2])
            answer(await paced_publishes(publish, rate, count, sequence))
            sequence += count
    await connection.close()


async def paced_publishes(
    publish: Callable[[int], Awaitable[None]], rate: float, count: int, first_sequence: int
) -> dict[str, Any]:
    """One confirmed publish per message at ``rate``; the wall-clock time of each publish, by sequence."""
    sent: dict[str, float] = {}

    async def send(n: int) -> None:
        sent[str(first_sequence + n)] = time.time()
        await publish(first_sequence + n)

    achieved = await paced(rate, count, send)
    return {"committed": sent, "achieved_rate": achieved}


async def role_raw_consumer(settings: BenchBusSettings) -> None:
    connection = await aio_pika.connect_robust(settings.amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=settings.consumer_prefetch)
    queue = await channel.get_queue(RAW_QUEUE)
    state: dict[str, Any] = {"at": {}, "expected": 0, "done": asyncio.Event()}

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await message.ack()
        if message.body == b"-1":
            return  # the publisher's warm-up message
        state["at"][message.body.decode()] = time.time()
        if len(state["at"]) >= state["expected"]:
            state["done"].set()

    await queue.consume(on_message)
    answer("ready")
    async for command in commands():
        state.update({"at": {}, "expected": int(command[1]), "done": asyncio.Event()})
        answer({"committed": await _when_done(state["done"], state["at"])})
    await connection.close()


# --- the raw outbox: the same work written by hand with asyncpg and aio-pika --------------------------------


def raw_event(sequence: int) -> tuple[uuid.UUID, bytes]:
    """An event id and a body of the library envelope's shape and size, serialised once."""
    event_id = uuid6.uuid7()
    body = json.dumps(
        {
            "id": str(event_id),
            "type": BenchPingedV1.event_type,
            "source": "bench",
            "tenant": "bench",
            "occurred_at": datetime.now(UTC).isoformat(),
            "subject": None,
            "data": {"sequence": sequence},
            "traceparent": None,
        }
    ).encode()
    return event_id, body


_RAW_INSERT = "INSERT INTO raw_outbox (id, routing_key, body, headers) VALUES ($1, $2, $3, $4)"
_RAW_HEADERS = json.dumps({"tenant": "bench"})


async def raw_outbox_connection(settings: BenchBusSettings) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(settings.dsn))


async def role_raw_outbox_writer(settings: BenchBusSettings) -> None:
    """The API's part, by hand: each event one INSERT in the business transaction, then one NOTIFY."""
    pool = await asyncpg.create_pool(
        asyncpg_dsn(settings.dsn),
        min_size=POOL_SIZES["raw-outbox-writer"],
        max_size=POOL_SIZES["raw-outbox-writer"],
    )
    sequence = 0

    async def transaction(first: int, size: int) -> list[tuple[str, float]]:
        async with pool.acquire() as conn, conn.transaction():
            ids = []
            for n in range(first, first + size):
                event_id, body = raw_event(n)
                await conn.execute(_RAW_INSERT, event_id, BenchPingedV1.event_type, body, _RAW_HEADERS)
                ids.append(str(event_id))
            await conn.execute("SELECT pg_notify($1, '')", RAW_OUTBOX_CHANNEL)
        committed = time.time()
        return [(event_id, committed) for event_id in ids]

    answer("ready")
    async for command in commands():
        if command[0] == "burst":
            count, per_transaction = int(command[1]), int(command[2])
            start = time.time()
            for first in range(0, count, per_transaction):
                await transaction(sequence + first, min(per_transaction, count - first))
            sequence += count
            answer({"start": start, "written": time.time()})
        elif command[0] == "paced":
            rate, count = float(command[1]), int(command[2])
            committed: dict[str, float] = {}

            async def send(n: int, first: int = sequence, committed: dict[str, float] = committed) -> None:
                committed.update(await transaction(first + n, 1))

            achieved = await paced(rate, count, send)
            sequence += count
            answer({"committed": committed, "achieved_rate": achieved})
    await pool.close()


async def role_raw_outbox_relay(settings: BenchBusSettings) -> None:
    """The producer's worker, by hand: SKIP LOCKED → publish with confirms → DELETE, woken by NOTIFY."""
    conn = await raw_outbox_connection(settings)
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    listener = await raw_outbox_connection(settings)
    wake = asyncio.Event()
    await listener.add_listener(RAW_OUTBOX_CHANNEL, lambda *_: wake.set())
    connection = await aio_pika.connect_robust(settings.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.get_exchange(RAW_EXCHANGE)
    batch_size = settings.outbox_batch_size

    async def relay() -> None:
        while True:
            async with conn.transaction():
                rows = await conn.fetch(
                    "SELECT id, routing_key, body, headers FROM raw_outbox ORDER BY created_at "
                    "LIMIT $1 FOR UPDATE SKIP LOCKED",
                    batch_size,
                )
                if rows:
                    await asyncio.gather(
                        *(
                            exchange.publish(
                                aio_pika.Message(
                                    body=row["body"],
                                    content_type="application/json",
                                    message_id=str(row["id"]),
                                    type=row["routing_key"],
                                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                    headers=row["headers"],
                                ),
                                routing_key=row["routing_key"],
                            )
                            for row in rows
                        )
                    )
                    await conn.execute(
                        "DELETE FROM raw_outbox WHERE id = ANY($1::uuid[])", [r["id"] for r in rows]
                    )
            if len(rows) < batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), 1.0)
                wake.clear()

    relaying = asyncio.create_task(relay())
    answer("ready")
    async for _ in commands():
        pass
    relaying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relaying
    await connection.close()
    await listener.close()
    await conn.close()


async def role_raw_outbox_consumer(settings: BenchBusSettings) -> None:
    """The consumer's worker, by hand: per batch, inbox claim + effects in one transaction → commit → ack."""
    conn = await raw_outbox_connection(settings)
    connection = await aio_pika.connect_robust(settings.amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=settings.consumer_prefetch)
    queue = await channel.get_queue(RAW_OUTBOX_QUEUE)
    state: dict[str, Any] = {"at": {}, "expected": 0, "done": asyncio.Event()}
    pending: list[aio_pika.abc.AbstractIncomingMessage] = []
    tasks: set[asyncio.Task[None]] = set()
    draining = False

    async def drain() -> None:
        nonlocal draining
        try:
            while pending:
                batch = pending[: settings.consumer_prefetch]
                del pending[: settings.consumer_prefetch]
                events = [json.loads(message.body) for message in batch]
                ids = [uuid.UUID(event["id"]) for event in events]
                async with conn.transaction():
                    claimed = {
                        row[0]
                        for row in await conn.fetch(
                            "INSERT INTO raw_inbox (consumer, message_id) SELECT 'bench', unnest($1::uuid[]) "
                            "ON CONFLICT DO NOTHING RETURNING message_id",
                            ids,
                        )
                    }
                    fresh = [
                        (i, e["data"]["sequence"]) for i, e in zip(ids, events, strict=True) if i in claimed
                    ]
                    await conn.execute(
                        "INSERT INTO raw_effects (event_id, sequence) SELECT * FROM unnest($1::uuid[], $2::int[])",
                        [i for i, _ in fresh],
                        [n for _, n in fresh],
                    )
                committed = time.time()
                await batch[-1].ack(multiple=True)
                for event_id, _ in fresh:
                    state["at"][str(event_id)] = committed
                if state["expected"] and len(state["at"]) >= state["expected"]:
                    state["done"].set()
        finally:
            draining = False

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal draining
        pending.append(message)
        if not draining:
            draining = True
            task = asyncio.create_task(drain())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    await queue.consume(on_message)
    answer("ready")
    async for command in commands():
        state.update({"at": {}, "expected": int(command[1]), "done": asyncio.Event()})
        answer({"committed": await _when_done(state["done"], state["at"])})
    await connection.close()
    await conn.close()


ROLES = {
    "writer": role_writer,
    "relay": role_relay,
    "consumer": role_consumer,
    "raw-publisher": role_raw_publisher,
    "raw-consumer": role_raw_consumer,
    "raw-outbox-writer": role_raw_outbox_writer,
    "raw-outbox-relay": role_raw_outbox_relay,
    "raw-outbox-consumer": role_raw_outbox_consumer,
}


# --- the orchestrator ----------------------------------------------------------------------------------


class Role:
    """One role's process, driven line by line."""

    def __init__(self, name: str, amqp_base: str) -> None:
        self.name = name
        self.amqp_base = amqp_base
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Role:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--role",
            self.name,
            "--amqp-base",
            self.amqp_base,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 27,
        )
        if await self.read() != "ready":
            raise SystemExit(f"the {self.name} process did not start")
        return self

    async def read(self) -> Any:
        assert self.process is not None and self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), PHASE_LIMIT_S + 30)
        if not line:
            raise SystemExit(f"the {self.name} process ended unexpectedly")
        return json.loads(line)

    def send(self, *command: object) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((" ".join(map(str, command)) + "\n").encode())

    async def ask(self, *command: object) -> Any:
        self.send(*command)
        return await self.read()

    async def __aexit__(self, *_: object) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()


def summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "count": len(ordered),
        "mean": statistics.fmean(ordered),
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "p99_9": pct(99.9),
        "max": ordered[-1],
    }


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def infrastructure_seconds() -> dict[str, float]:
    """CPU seconds used so far by the PostgreSQL and RabbitMQ processes of this machine (all of them: the
    bench's share is what changes over a phase), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {"postgresql": 0.0, "rabbitmq": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text_ = stat.read_text()
        except OSError:
            continue
        name = text_[text_.index("(") + 1 : text_.rindex(")")]
        kind = "postgresql" if name.startswith("postgres") else "rabbitmq" if name == "beam.smp" else None
        if kind:
            fields = text_[text_.rindex(")") + 2 :].split()
            used[kind] += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return used


class CpuAccount:
    """CPU milliseconds per event of each role's process and of PostgreSQL and RabbitMQ, and how busy the whole
    machine was, over a phase."""

    def __init__(self, roles: list[Role]) -> None:
        self.roles = roles

    async def __aenter__(self) -> CpuAccount:
        self.start = {role.name: await role.ask("cpu") for role in self.roles}
        self.machine = machine_busy()
        self.infrastructure = infrastructure_seconds()
        return self

    async def __aexit__(self, *_: object) -> None:
        pass

    async def per_event(self, events: int) -> dict[str, Any]:
        busy, total = machine_busy()
        used = {role.name: (await role.ask("cpu")) - self.start[role.name] for role in self.roles}
        infrastructure = infrastructure_seconds()
        return {
            "cpu_ms_per_event": {name: seconds * 1000 / events for name, seconds in used.items()},
            "infrastructure_cpu_ms_per_event": {
                name: (seconds - self.infrastructure[name]) * 1000 / events
                for name, seconds in infrastructure.items()
            },
            "machine_busy": (busy - self.machine[0]) / max(1, total - self.machine[1]),
        }


async def burst(producer: Role, consumer: Role, events: int, chunk: int, roles: list[Role]) -> dict[str, Any]:
    async with CpuAccount(roles) as cpu:
        consumer.send("expect", events)
        produced = await producer.ask("burst", events, chunk)
        consumed = (await consumer.read())["committed"]
        if len(consumed) < events:
            raise SystemExit(f"{consumer.name}: only {len(consumed)} of {events} events arrived")
        elapsed = max(consumed.values()) - produced["start"]
        return {
            "events": events,
            "chunk": chunk,
            "seconds": elapsed,
            "events_per_s": events / elapsed,
            "producer_seconds": produced["written"] - produced["start"],
            **await cpu.per_event(events),
        }


async def paced_latency(
    producer: Role, consumer: Role, rate: float, seconds: float, roles: list[Role]
) -> dict[str, Any]:
    count = int(rate * seconds)
    async with CpuAccount(roles) as cpu:
        consumer.send("expect", count)
        produced = await producer.ask("paced", rate, count)
        consumed = (await consumer.read())["committed"]
        if len(consumed) < count:
            raise SystemExit(f"{consumer.name}: only {len(consumed)} of {count} paced events arrived")
        latencies = [(consumed[key] - at) * 1000 for key, at in produced["committed"].items()]
        first_commit = min(produced["committed"].values())
        return {
            "rate": rate,
            "seconds": seconds,
            "achieved_rate": produced["achieved_rate"],
            # Events through the whole pipeline per second, first writer commit to last consumer commit.
            "delivered_rate": count / (max(consumed.values()) - first_commit),
            "latency_ms": summary(latencies),
            **await cpu.per_event(count),
        }


async def run_raw(args: argparse.Namespace, window: int, rate: float) -> dict[str, Any]:
    async with (
        Role("raw-consumer", args.amqp_base) as consumer,
        Role("raw-publisher", args.amqp_base) as publisher,
    ):
        roles = [publisher, consumer]
        await paced_latency(publisher, consumer, rate, WARMUP_S, roles)
        throughput = await burst(publisher, consumer, args.events, window, roles)
        latency = await paced_latency(publisher, consumer, rate, args.seconds, roles)
    return {"throughput": throughput, "latency": latency}


async def check_raw_outbox(settings: BenchBusSettings, expected: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings.dsn))
    try:
        effects = await conn.fetchval("SELECT count(*) FROM raw_effects")
        unsent = await conn.fetchval("SELECT count(*) FROM raw_outbox")
    finally:
        await conn.close()
    if effects != expected or unsent:
        raise SystemExit(
            f"the raw outbox lost or duplicated work: {effects} effects of {expected}, {unsent} unsent"
        )


async def check_library(settings: BenchBusSettings, expected: int) -> None:
    engine = create_engine(settings)
    async with engine.connect() as conn:
        effects = (await conn.execute(text("SELECT count(*) FROM bench_effects"))).scalar_one()
        unsent = (
            await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        ).scalar_one()
    await engine.dispose()
    if effects != expected or unsent:
        raise SystemExit(
            f"the pipeline lost or duplicated work: {effects} effects of {expected}, {unsent} unsent"
        )


def median_burst(bursts: list[dict[str, Any]]) -> dict[str, Any]:
    """The round of median throughput, with every round's events/s beside it."""
    chosen = sorted(bursts, key=lambda b: b["events_per_s"])[len(bursts) // 2]
    return {**chosen, "rounds_events_per_s": [b["events_per_s"] for b in bursts]}


async def run_outboxes(
    args: argparse.Namespace, settings: BenchBusSettings
) -> tuple[dict[str, Any], dict[str, Any], float]:
    """The hand-written outbox and the library, each as three processes, all started at once: their bursts
    alternate (``--rounds`` each; the median counts), so load from elsewhere falls on both alike. Then the
    raw outbox's saturation when each event is a transaction of its own (the paced phases' shape: an API's
    request), and both sides' latency at half of it (or ``--rate``)."""
    async with (
        Role("raw-outbox-consumer", args.amqp_base) as raw_consumer,
        Role("raw-outbox-relay", args.amqp_base) as raw_relay,
        Role("raw-outbox-writer", args.amqp_base) as raw_writer,
        Role("consumer", args.amqp_base) as consumer,
        Role("relay", args.amqp_base) as relay,
        Role("writer", args.amqp_base) as writer,
    ):
        raw_roles, roles = [raw_writer, raw_relay, raw_consumer], [writer, relay, consumer]
        await burst(raw_writer, raw_consumer, WARMUP_EVENTS, 100, raw_roles)
        await burst(writer, consumer, WARMUP_EVENTS, 100, roles)
        raw_bursts, bursts = [], []
        for _ in range(args.rounds):
            raw_bursts.append(await burst(raw_writer, raw_consumer, args.events, 100, raw_roles))
            bursts.append(await burst(writer, consumer, args.events, 100, roles))
        raw_throughput, throughput = median_burst(raw_bursts), median_burst(bursts)
        # Offered at the burst's rate, one event per transaction: what arrives per second is the saturation
        # in the paced phases' shape (a transaction per event costs the writer several times more per event).
        single = await paced_latency(
            raw_writer, raw_consumer, raw_throughput["events_per_s"], SATURATION_S, raw_roles
        )
        rate = args.rate or single["delivered_rate"] / 2
        raw_latency = await paced_latency(raw_writer, raw_consumer, rate, args.seconds, raw_roles)
        latency = await paced_latency(writer, consumer, rate, args.seconds, roles)
    sent = WARMUP_EVENTS + args.rounds * args.events + int(rate * args.seconds)
    await check_raw_outbox(settings, sent + int(raw_throughput["events_per_s"] * SATURATION_S))
    await check_library(settings, sent)
    raw_outbox = {
        "throughput": raw_throughput,
        "latency": raw_latency,
        "saturation_rate": raw_throughput["events_per_s"],
        "saturation_rate_one_event_per_transaction": single["delivered_rate"],
        "one_event_per_transaction": single,
    }
    return raw_outbox, {"throughput": throughput, "latency": latency}, rate


async def depth(settings: BenchBusSettings, queue: str) -> int:
    connection = await aio_pika.connect(settings.amqp_url)
    async with connection:
        declared = await (await connection.channel()).declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


async def orchestrate(args: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(args.amqp_base)
    await prepare(settings, bus_subscription())
    raw_outbox, library, rate = await run_outboxes(args, settings)
    raw = await run_raw(args, settings.outbox_batch_size, rate)
    for queue in (RAW_QUEUE, RAW_OUTBOX_QUEUE, QUEUE):
        if await depth(settings, dlq_name(queue)):
            raise SystemExit(f"messages were dead-lettered in {dlq_name(queue)}")
    ratio = library["throughput"]["events_per_s"] / raw_outbox["throughput"]["events_per_s"]
    return {
        "benchmark": "bus",
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": os.getloadavg(),
        },
        "arguments": {
            "events": args.events,
            "seconds": args.seconds,
            "rate": args.rate,
            "rounds": args.rounds,
        },
        "paced_rate": rate,
        "settings": {
            "consumer_prefetch": settings.consumer_prefetch,
            "consumer_batch_max": settings.consumer_batch_max,
            "consumer_concurrency": settings.consumer_concurrency,
            "outbox_batch_size": settings.outbox_batch_size,
            "database_pool_size_by_role": POOL_SIZES,
            "delivery_limit": settings.delivery_limit,
        },
        "raw": raw,
        "raw_outbox": raw_outbox,
        "library": library,
        "targets": {
            "throughput_ratio": ratio,
            "throughput_ratio_target": THROUGHPUT_TARGET,
            "throughput_met": ratio >= THROUGHPUT_TARGET,
            "ratio_to_raw_aio_pika": library["throughput"]["events_per_s"]
            / raw["throughput"]["events_per_s"],
            "p99_ms_target": P99_TARGET_MS,
            "p99_met": library["latency"]["latency_ms"]["p99"] < P99_TARGET_MS,
        },
    }


def table(result: dict[str, Any]) -> str:
    lib, outbox_, raw, targets = result["library"], result["raw_outbox"], result["raw"], result["targets"]
    rate = int(result["paced_rate"])
    rows = [
        ("", "library", "raw outbox", "raw aio-pika", "target"),
        (
            "throughput (events/s)",
            f"{lib['throughput']['events_per_s']:,.0f}",
            f"{outbox_['throughput']['events_per_s']:,.0f}",
            f"{raw['throughput']['events_per_s']:,.0f}",
            f"≥ {THROUGHPUT_TARGET:.0%} of raw outbox (median of {result['arguments']['rounds']}): "
            f"{targets['throughput_ratio']:.0%} "
            f"{'met' if targets['throughput_met'] else 'MISSED'}",
        ),
    ]
    for key in ("p50", "p99", "max"):
        target = (
            f"< {P99_TARGET_MS:.0f} ms at half the raw outbox's saturation (1 event/transaction): "
            f"{'met' if targets['p99_met'] else 'MISSED'}"
            if key == "p99"
            else ""
        )
        rows.append(
            (
                f"{key} latency @ {rate}/s (ms)",
                f"{lib['latency']['latency_ms'][key]:.1f}",
                f"{outbox_['latency']['latency_ms'][key]:.1f}",
                f"{raw['latency']['latency_ms'][key]:.1f}",
                target,
            )
        )

    def per_event(side: dict[str, Any], phase: str, key: str) -> str:
        return " + ".join(f"{v:.2f}" for v in side[phase][key].values())

    for label, key in (
        ("CPU ms/event", "cpu_ms_per_event"),
        ("PostgreSQL + RabbitMQ ms/event", "infrastructure_cpu_ms_per_event"),
    ):
        for phase in ("throughput", "latency"):
            busy = (
                ""
                if key != "cpu_ms_per_event"
                else (
                    f"machine busy {lib[phase]['machine_busy']:.0%} / {outbox_[phase]['machine_busy']:.0%} / "
                    f"{raw[phase]['machine_busy']:.0%}"
                )
            )
            name = "burst" if phase == "throughput" else "paced"
            rows.append(
                (f"{label}, {name}", *(per_event(side, phase, key) for side in (lib, outbox_, raw)), busy)
            )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(
            cell.ljust(widths[i]) if i in (0, 4) else cell.rjust(widths[i]) for i, cell in enumerate(row)
        )
        for row in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def write_results(result: dict[str, Any], name: str) -> Path:
    """``<name>-<timestamp>.json`` and ``<name>-baseline.json`` (the latest run) in bench/results/."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    body = json.dumps(result, indent=2) + "\n"
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(body)
    (RESULTS / f"{name}-baseline.json").write_text(body)
    return path


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=5_000, help="events in each burst (default 5000)")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="length of the paced latency phase (default 10)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="events/s in the paced phases (default: half of the raw outbox's saturation rate with one event "
        "per transaction)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="bursts of each outbox, alternating; the median counts (3)"
    )
    parser.add_argument(
        "--amqp-base", default="amqp://guest:guest@127.0.0.1:5672", help="RabbitMQ, without vhost"
    )
    parser.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.role:
        # The roles run on the loop the services run on (yui_common.runtime: uvloop where installed).
        run(ROLES[args.role](bench_settings(args.amqp_base, args.role)))
        return 0
    result = asyncio.run(orchestrate(args))
    path = write_results(result, "bus")
    print(table(result))
    print(f"\nraw numbers: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
