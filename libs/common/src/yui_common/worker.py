"""The worker process every service runs: its consumers, its outbox relay and its periodic jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aio_pika
from prometheus_client import start_http_server

from yui_common import networks, revocations
from yui_common.audit_seal import AuditSealer
from yui_common.bus.consumer import ConsumerRunner, Subscription
from yui_common.bus.topology import declare_consumer_queue, declare_exchange
from yui_common.db import asyncpg_dsn, create_engine, create_sessionmaker
from yui_common.health import refresh_bus_gauges
from yui_common.metrics import OUTBOX_PUBLISHED
from yui_common.outbox import OutboxRelay
from yui_common.settings import CommonSettings
from yui_common.telemetry import setup_logging, setup_tracing

log = logging.getLogger(__name__)


@dataclass
class PeriodicJob:
    """A job every replica runs on an interval; jobs must be safe to run concurrently (use locks in SQL)."""

    name: str
    interval_s: float
    run: Callable[[Worker], Awaitable[None]]


class Worker:
    """Start with ``await worker.start()``; stop with ``await worker.stop()``. Tests run it in-process."""

    def __init__(
        self,
        *,
        settings: CommonSettings,
        subscriptions: Sequence[Subscription] = (),
        jobs: Sequence[PeriodicJob] = (),
        run_relay: bool = True,
    ) -> None:
        self.settings = settings
        # Every service keeps identity's deny list so its API refuses revoked tokens (yui_common.revocations).
        # … and a projection of identity's networks: their rules, and whether one is suspended (yui_common.networks).
        self.subscriptions = [
            *subscriptions,
            revocations.subscription(settings.service_name),
            networks.subscription(settings.service_name),
        ]
        self.jobs = list(jobs)
        self.run_relay = run_relay
        # No pre-ping: it costs three round trips (BEGIN; ping; ROLLBACK) per checkout, i.e. per message, and
        # a worker needs no second chance: a unit of work that meets a dead connection fails, SQLAlchemy drops
        # the pool's stale connections, and the message is retried or the outbox row swept again.
        self.engine = create_engine(settings, pool_pre_ping=False)
        self.sessionmaker = create_sessionmaker(self.engine)
        self.connection: aio_pika.abc.AbstractRobustConnection | None = None
        self.runner: ConsumerRunner | None = None
        self.relay: OutboxRelay | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # A token per start(): the loops of one run end once stop() has cleared it, even if a loop outlived its
        # cancellation, while a later start() of the same worker (tests restart one in place) runs its own.
        self._run: object | None = None
        self.audit_sealer: AuditSealer | None = None
        self.object_store = None

    async def _connect(self) -> aio_pika.abc.AbstractRobustConnection:
        while True:
            try:
                return await aio_pika.connect_robust(
                    self.settings.amqp_url,
                    client_properties={"connection_name": f"{self.settings.service_name}-worker"},
                )
            except Exception:
                log.warning("broker not reachable; retrying")
                await asyncio.sleep(2)

    async def start(self) -> None:
        run = self._run = object()
        self.connection = await self._connect()
        relay_channel = await self.connection.channel(publisher_confirms=True)
        await declare_exchange(relay_channel, self.settings.exchange)
        self.runner = ConsumerRunner(
            connection=self.connection,
            sessionmaker=self.sessionmaker,
            exchange_name=self.settings.exchange,
            subscriptions=self.subscriptions,
            prefetch=self.settings.consumer_prefetch,
            delivery_limit=self.settings.delivery_limit,
            retry_delays_ms=self.settings.retry_delays_ms,
            batch_max=self.settings.consumer_batch_max,
            concurrency=self.settings.consumer_concurrency,
        )
        await self.runner.start()
        if self.run_relay:
            self.relay = OutboxRelay(
                sessionmaker=self.sessionmaker,
                listen_dsn=asyncpg_dsn(self.settings.dsn),
                channel=relay_channel,
                exchange_name=self.settings.exchange,
                batch_size=self.settings.outbox_batch_size,
                poll_interval_s=self.settings.outbox_poll_interval_s,
            )
            self._tasks.append(asyncio.create_task(self._run_relay(run), name="outbox-relay"))
        for job in self.jobs:
            self._tasks.append(asyncio.create_task(self._every(job, run), name=job.name))
        # The audit sealer runs in every replica; they take turns through a lock (yui_common.audit_seal).
        self.audit_sealer = AuditSealer.for_settings(self.settings, self.engine)
        if self.audit_sealer is not None and self.settings.audit_seal_interval_s > 0:
            seal = PeriodicJob("audit-sealer", self.settings.audit_seal_interval_s, _seal_audit_log)
            self._tasks.append(asyncio.create_task(self._every(seal, run), name=seal.name))
        self._tasks.append(asyncio.create_task(self._refresh_gauges(run), name="gauges"))

    async def _run_relay(self, run: object) -> None:
        assert self.relay is not None
        before = 0
        task = asyncio.create_task(self.relay.run())
        try:
            while not task.done() and self._run is run:
                await asyncio.sleep(1)
                OUTBOX_PUBLISHED.inc(self.relay.published_total - before)
                before = self.relay.published_total
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _every(self, job: PeriodicJob, run: object) -> None:
        # Not `while True`: a job left behind by stop() (it swallowed its cancellations) ends at its next turn
        # instead of running beside the worker that replaced it.
        while self._run is run:
            try:
                await job.run(self)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic job %s failed", job.name)
            if self._run is run:
                await asyncio.sleep(job.interval_s)

    async def _refresh_gauges(self, run: object) -> None:
        state = SimpleNamespace(
            sessionmaker=self.sessionmaker,
            amqp=self.connection,
            consumer_queues=[s.queue for s in self.subscriptions],
        )
        while self._run is run:
            await refresh_bus_gauges(state)
            await asyncio.sleep(5)

    async def stop(self) -> None:
        """Stop every task, the consumers, the broker connection and the pool; always returns.

        Each part gets a bounded time: a task that will not end (a cancellation swallowed in a library's
        cleanup, a broker that stopped reading from its blocked connections) is left behind and logged with
        where it waits, so a stuck part costs seconds and a line in the log, never a worker that cannot stop
        or a test run that hangs (a shared test stack stops and restarts workers mid-run)."""
        loop = asyncio.get_running_loop()
        self._run = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            # Cancel again until the task ends: on Python 3.11, asyncio.wait_for (inside aiosmtplib, asyncpg, …) can
            # swallow a cancellation that arrives as its inner call finishes (gh-86296), and a periodic job's loop
            # then carries on, so a single cancel could leave stop() waiting forever.
            deadline = loop.time() + STOP_TASK_WITHIN_S
            while not task.done() and loop.time() < deadline:
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            if not task.done():
                log.error(
                    "worker task %s did not end within %.0f s of being cancelled; left behind, waiting at:\n%s",
                    task.get_name(),
                    STOP_TASK_WITHIN_S,
                    _where(task),
                )
                _leave_behind(task)
                continue
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.runner is not None:
            await _bounded("the consumers' close", self.runner.close())
        if self.connection is not None:
            await _bounded("the broker connection's close", self.connection.close())
        await _bounded("the database pool's disposal", self.engine.dispose())


STOP_TASK_WITHIN_S = 10.0
STOP_STEP_WITHIN_S = 15.0


def _where(task: asyncio.Future[Any]) -> str:
    """The await chain a task is suspended in, as far as it goes (Task.print_stack shows only the outer frame;
    a chain that waits on another task, as asyncio.wait_for does, ends where that task is awaited)."""
    lines = []
    awaited: object = task.get_coro() if isinstance(task, asyncio.Task) else None
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            lines.append(
                f'  File "{frame.f_code.co_filename}", line {frame.f_lineno}, in {frame.f_code.co_name}'
            )
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return "\n".join(lines) or f"  {task!r}"


async def _bounded(what: str, step: Awaitable[object]) -> None:
    """Run one step of stopping for at most STOP_STEP_WITHIN_S; a step that fails or hangs is logged, not
    raised. The step runs as its own task so that a swallowed cancellation cannot hold up the caller; one
    that is still running then is cancelled and left behind."""
    task = asyncio.ensure_future(step)
    try:
        done, _ = await asyncio.wait({task}, timeout=STOP_STEP_WITHIN_S)
    except asyncio.CancelledError:
        task.cancel()
        _leave_behind(task)
        raise
    if not done:
        task.cancel()
        log.error(
            "%s did not finish within %.0f s; left behind, waiting at:\n%s",
            what,
            STOP_STEP_WITHIN_S,
            _where(task),
        )
        _leave_behind(task)
        return
    if not task.cancelled() and task.exception() is not None:
        log.warning("%s failed", what, exc_info=task.exception())


# Tasks stop() gave up on: kept referenced so that they are not destroyed while pending, and their outcome is
# read when they do end, so that it is not reported as never retrieved.
_LEFT_BEHIND: set[asyncio.Future[object]] = set()


def _leave_behind(task: asyncio.Future[Any]) -> None:
    def ended(done: asyncio.Future[Any]) -> None:
        _LEFT_BEHIND.discard(done)
        if not done.cancelled() and done.exception() is not None:
            log.warning("a task left behind by stop() ended with an error", exc_info=done.exception())

    _LEFT_BEHIND.add(task)
    task.add_done_callback(ended)


async def _seal_audit_log(worker: Worker) -> None:
    if worker.audit_sealer is not None:
        await worker.audit_sealer.run_round()


async def declare_topology(settings: CommonSettings, subscriptions: Sequence[Subscription]) -> list[str]:
    """Declare the exchange and this service's queues (idempotent); part of the migrate command."""
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        await declare_exchange(channel, settings.exchange)
        for sub in subscriptions:
            await declare_consumer_queue(
                channel,
                exchange_name=settings.exchange,
                queue=sub.queue,
                routing_keys=sub.routing_keys,
                delivery_limit=settings.delivery_limit,
                retry_delays_ms=settings.retry_delays_ms,
            )
    finally:
        await connection.close()
    return [sub.queue for sub in subscriptions]


async def serve_worker(worker: Worker) -> None:
    """Run until SIGTERM or SIGINT, then finish in-flight messages and stop."""
    setup_logging(worker.settings)
    setup_tracing(worker.settings)
    if worker.settings.worker_metrics_port:
        start_http_server(worker.settings.worker_metrics_port, addr=worker.settings.worker_metrics_host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await worker.start()
    log.info("worker started", extra={"service": worker.settings.service_name})
    await stop.wait()
    await worker.stop()
