"""Exchanges and queues, declared idempotently by every worker at start."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import aio_pika
from aio_pika import ExchangeType

DEAD_LETTER_EXCHANGE = "yui.dead-letters"


def dlq_name(queue: str) -> str:
    return f"{queue}.dlq"


def retry_queue_name(queue: str, delay_ms: int) -> str:
    return f"{queue}.retry.{delay_ms}ms"


async def declare_exchange(channel: aio_pika.abc.AbstractChannel, name: str) -> aio_pika.abc.AbstractExchange:
    return await channel.declare_exchange(name, ExchangeType.TOPIC, durable=True)


async def declare_consumer_queue(
    channel: aio_pika.abc.AbstractChannel,
    *,
    exchange_name: str,
    queue: str,
    routing_keys: Iterable[str],
    delivery_limit: int,
    retry_delays_ms: Sequence[int],
) -> aio_pika.abc.AbstractQueue:
    """One durable quorum queue per consumer purpose, with its dead-letter queue and retry queues.

    - ``x-delivery-limit`` bounds redeliveries after crashes or requeues; past it the message is dead-lettered.
    - Dead letters go to ``<queue>.dlq`` through the ``yui.dead-letters`` direct exchange.
    - A delayed retry is a message parked in ``<queue>.retry.<N>ms`` whose TTL sends it back to ``<queue>``.
    """
    exchange = await declare_exchange(channel, exchange_name)
    dead_letters = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, ExchangeType.DIRECT, durable=True)
    dlq = await channel.declare_queue(dlq_name(queue), durable=True, arguments={"x-queue-type": "quorum"})
    await dlq.bind(dead_letters, routing_key=dlq_name(queue))
    main = await channel.declare_queue(
        queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": dlq_name(queue),
        },
    )
    for key in routing_keys:
        await main.bind(exchange, routing_key=key)
    for delay in retry_delays_ms:
        await channel.declare_queue(
            retry_queue_name(queue, delay),
            durable=True,
            arguments={
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": queue,
            },
        )
    return main


async def dead_letter_depths(
    connection: aio_pika.abc.AbstractConnection, queues: Iterable[str]
) -> dict[str, int]:
    """Messages waiting in each queue's DLQ (passive declare on a short-lived channel; missing counts 0)."""
    depths: dict[str, int] = {}
    for queue in queues:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(dlq_name(queue), passive=True)
            depths[queue] = declared.declaration_result.message_count or 0
        except aio_pika.exceptions.ChannelClosed:
            depths[queue] = 0
        finally:
            if not channel.is_closed:
                await channel.close()
    return depths
