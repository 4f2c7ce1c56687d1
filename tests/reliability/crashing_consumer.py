"""f3's consumer process: on its first ping it dies by SIGKILL after its commit, before the ack.

Run as ``python -m tests.reliability.crashing_consumer --exchange X --queue Q --marker FILE --expect N``
with the test's YUI_* environment. The marker file says the kill already happened (it survives the process);
a run that finds it consumes normally until it has handled N messages, then prints a JSON report and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import aio_pika
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import ConsumerRunner
from yui_common.db import create_engine, create_sessionmaker
from yui_common.events import Envelope
from yui_common.metrics import CONSUMED, REDELIVERIES

from tests.reliability.pings import PingV1, ReliabilitySettings, apply_ping, ping_subscription


def _die_now(_session: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class RecordingRunner(ConsumerRunner):
    """The real runner, noting what the broker delivered (id and redelivered flag) for the report."""

    deliveries: list[dict[str, Any]]
    expected: int
    handled: asyncio.Event

    async def handle(self, sub, channel, message):  # type: ignore[no-untyped-def]
        self.deliveries.append({"message_id": message.message_id, "redelivered": bool(message.redelivered)})
        await super().handle(sub, channel, message)
        if len(self.deliveries) >= self.expected:
            self.handled.set()


def first_delivery(marker: Path, event_id: str) -> bool:
    """True the first time any process asks (the marker file outlives the killed process)."""
    if marker.exists():
        return False
    marker.write_text(event_id)
    return True


async def consume(exchange: str, queue: str, marker: Path, expect: int) -> dict[str, Any]:
    settings = ReliabilitySettings(exchange=exchange)

    async def apply_then_die_once(session: AsyncSession, envelope: Envelope, data: PingV1) -> None:
        await apply_ping(session, envelope, data)
        if first_delivery(marker, str(envelope.id)):
            # The commit happens in the runner after this handler returns; die right after it, before the ack.
            event.listen(session.sync_session, "after_commit", _die_now)

    engine = create_engine(settings)
    connection = await aio_pika.connect_robust(settings.amqp_url)
    runner = RecordingRunner(
        connection=connection,
        sessionmaker=create_sessionmaker(engine),
        exchange_name=settings.exchange,
        subscriptions=[ping_subscription(queue, apply_then_die_once)],  # type: ignore[arg-type]
        prefetch=settings.consumer_prefetch,
        delivery_limit=settings.delivery_limit,
        retry_delays_ms=settings.retry_delays_ms,
    )
    runner.deliveries, runner.expected, runner.handled = [], expect, asyncio.Event()

    def outcome(name: str) -> int:
        return int(CONSUMED.labels(queue, name)._value.get())  # type: ignore[attr-defined]

    try:
        await runner.start()
        await runner.handled.wait()
        await runner.drain()
    finally:
        await runner.close()
        await connection.close()
        await engine.dispose()
    return {
        "deliveries": runner.deliveries,
        "applied": outcome("applied"),
        "duplicate": outcome("duplicate"),
        "redeliveries_counted": int(REDELIVERIES.labels(queue)._value.get()),  # type: ignore[attr-defined]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--marker", required=True, type=Path)
    parser.add_argument("--expect", type=int, default=1)
    args = parser.parse_args()
    report = asyncio.run(consume(args.exchange, args.queue, args.marker, args.expect))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
