"""Putting an event on the tests' broker directly (a replay, a redelivery), with every wait bounded."""

from __future__ import annotations

import asyncio
import contextlib

import aio_pika
from yui_common.bus.publisher import message_for, publish_envelope
from yui_common.events import Envelope

# A broker under a resource alarm blocks publishers without a word; a connection's close can stall while the
# broker is busy with another suite's vhost. Either would otherwise hang a test until pytest-timeout.
STEP_TIMEOUT_S = 30.0


async def _bounded(awaitable: object, what: str) -> object:
    try:
        return await asyncio.wait_for(awaitable, STEP_TIMEOUT_S)  # type: ignore[arg-type]
    except TimeoutError as exc:
        raise AssertionError(
            f"RabbitMQ did not {what} within {STEP_TIMEOUT_S:.0f} s "
            "(a memory or disk alarm? `rabbitmq-diagnostics alarms` tells)"
        ) from exc


async def publish_direct(
    amqp_url: str, envelope: Envelope, *, queue: str | None = None, exchange: str | None = None
) -> None:
    """Publish ``envelope`` with a confirm: to ``queue`` by the default exchange, or routed by ``exchange``."""
    if (queue is None) == (exchange is None):
        raise ValueError("give exactly one of queue and exchange")
    connection = await _bounded(aio_pika.connect(amqp_url, timeout=STEP_TIMEOUT_S), "accept a connection")
    assert isinstance(connection, aio_pika.abc.AbstractConnection)
    try:
        channel = await _bounded(connection.channel(publisher_confirms=True), "open a channel")
        assert isinstance(channel, aio_pika.abc.AbstractChannel)
        if queue is not None:
            await _bounded(
                channel.default_exchange.publish(message_for(envelope, {}), routing_key=queue), "confirm"
            )
        else:
            target = await _bounded(channel.get_exchange(exchange or ""), "find the exchange")
            await _bounded(publish_envelope(target, envelope, {}), "confirm the publish")  # type: ignore[arg-type]
    finally:
        # The message is confirmed by now: a close that stalls must not fail or hang the test.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), STEP_TIMEOUT_S)
