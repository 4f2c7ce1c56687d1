"""Publishing one envelope as a persistent AMQP message (used by the outbox relay only)."""

from __future__ import annotations

import aio_pika

from yui_common.events import Envelope


def message_for(envelope: Envelope, trace_headers: dict[str, str]) -> aio_pika.Message:
    return aio_pika.Message(
        body=envelope.model_dump_json().encode(),
        content_type="application/json",
        message_id=str(envelope.id),
        type=envelope.type,
        app_id=envelope.source,
        timestamp=envelope.occurred_at,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers={**trace_headers, "tenant": envelope.tenant},
    )


async def publish_envelope(
    exchange: aio_pika.abc.AbstractExchange, envelope: Envelope, trace_headers: dict[str, str]
) -> None:
    """Publish and wait for the broker's confirm (the channel must have publisher confirms on)."""
    await exchange.publish(message_for(envelope, trace_headers), routing_key=envelope.type, mandatory=False)
