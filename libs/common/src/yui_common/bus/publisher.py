"""The AMQP message of an event: built from an envelope, or from an outbox row exactly as it was stored."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aio_pika

from yui_common.events import Envelope


def headers_for(tenant: str, trace_headers: Mapping[str, str]) -> dict[str, Any]:
    """The AMQP headers of an event: its trace context (when tracing) and its tenant."""
    return {**trace_headers, "tenant": tenant}


def stored_message(
    *, message_id: str, routing_key: str, body: bytes, headers: dict[str, Any], created_at: datetime
) -> aio_pika.Message:
    """The message of an outbox row, its body and headers as they were serialised in the business transaction.

    The routing key is the event type (``<producer>.<what>.v<N>``, conventions §4), so the producer (the
    envelope's ``source``) is its first segment; the timestamp is the row's (AMQP keeps whole seconds).
    """
    return aio_pika.Message(
        body=body,
        content_type="application/json",
        message_id=message_id,
        type=routing_key,
        app_id=routing_key.partition(".")[0],
        timestamp=created_at,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers,
    )


def message_for(envelope: Envelope, trace_headers: dict[str, str]) -> aio_pika.Message:
    """An envelope as a message (tests and replays; the relay publishes stored rows instead)."""
    return aio_pika.Message(
        body=envelope.model_dump_json().encode(),
        content_type="application/json",
        message_id=str(envelope.id),
        type=envelope.type,
        app_id=envelope.source,
        timestamp=envelope.occurred_at,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers_for(envelope.tenant, trace_headers),
    )


async def publish_envelope(
    exchange: aio_pika.abc.AbstractExchange, envelope: Envelope, trace_headers: dict[str, str]
) -> None:
    """Publish and wait for the broker's confirm (the channel must have publisher confirms on)."""
    await exchange.publish(message_for(envelope, trace_headers), routing_key=envelope.type, mandatory=False)
