"""Staging a message to a peer in the business transaction: the next sequence number of the (our network, peer
network) pair, the body, its signature, the row the worker delivers and the feed serves, and the audit entry
holding the signature. Never commits."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit

from federation.keys import service as keys
from federation.messages import envelope
from federation.models import Agreement, OutgoingMessage
from federation.settings import Settings

DELIVERY_CHANNEL = "yui_federation_outgoing"

# One statement: the counter row is created or moved on and locked until the transaction ends, so two
# transactions staging for the same pair get consecutive numbers in commit order.
_NEXT_SEQUENCE = sa.text(
    "INSERT INTO sequence_counters (tenant, recipient, last_sequence) VALUES (:tenant, :recipient, 1) "
    "ON CONFLICT (tenant, recipient) DO UPDATE SET last_sequence = sequence_counters.last_sequence + 1 "
    "RETURNING last_sequence"
)


async def allocate_sequence(session: AsyncSession, tenant: str, recipient: str) -> int:
    return int(
        (await session.execute(_NEXT_SEQUENCE, {"tenant": tenant, "recipient": recipient})).scalar_one()
    )


async def stage(
    session: AsyncSession,
    settings: Settings,
    *,
    agreement: Agreement,
    event_type: str,
    data: dict[str, Any],
    subject_id: UUID | None = None,
    consent_version: int | None = None,
) -> OutgoingMessage:
    """Stage one signed message to the agreement's peer network; it leaves only if the transaction commits."""
    sequence = await allocate_sequence(session, agreement.tenant, agreement.peer_source)
    link = (
        envelope.subject_link(agreement.link_secret, subject_id)
        if subject_id is not None and agreement.link_secret
        else None
    )
    message_id, body = envelope.build_body(
        source=settings.network_source(agreement.tenant),
        recipient=agreement.peer_source,
        event_type=event_type,
        agreement_id=agreement.id,
        sequence=sequence,
        data=data,
        subject_link=link,
        consent_version=consent_version,
    )
    signature = envelope.sign(await keys.active_key(session, settings), body)
    message = OutgoingMessage(
        id=message_id,
        tenant=agreement.tenant,
        agreement_id=agreement.id,
        recipient=agreement.peer_source,
        peer_base_url=agreement.peer_base_url,
        sequence=sequence,
        type=event_type,
        body=body.decode(),
        signature=signature,
    )
    session.add(message)
    await session.flush()
    await audit.record(
        session,
        tenant=agreement.tenant,
        actor_id="federation",
        action="federation.message.sent",
        target=f"message:{message_id}",
        detail={
            "type": event_type,
            "recipient": agreement.peer_source,
            "agreement": str(agreement.id),
            "sequence": sequence,
            "signature": signature,
        },
    )
    # Wakes the delivery worker at the commit (a NOTIFY is transactional).
    await session.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": DELIVERY_CHANNEL})
    return message
