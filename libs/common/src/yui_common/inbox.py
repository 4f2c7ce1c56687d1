"""The idempotent-consumer claim: a message is handled at most once per consumer."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_CLAIM = text(
    "INSERT INTO inbox (consumer, message_id, event_type) VALUES (:consumer, :message_id, :event_type) "
    "ON CONFLICT DO NOTHING RETURNING 1"
)


async def claim(session: AsyncSession, *, consumer: str, message_id: UUID, event_type: str) -> bool:
    """Claim the message for this consumer in the handler's transaction; False means already handled.

    A concurrent duplicate blocks on the primary key until the first transaction ends, so two copies of
    one message can never both be applied.
    """
    result = await session.execute(
        _CLAIM, {"consumer": consumer, "message_id": message_id, "event_type": event_type}
    )
    return result.first() is not None


# One statement claims a whole batch: the rows that come back are the messages this consumer had not seen.
_CLAIM_MANY = text(
    "INSERT INTO inbox (consumer, message_id, event_type) "
    "SELECT :consumer, claimed.message_id, claimed.event_type "
    "FROM unnest(CAST(:message_ids AS uuid[]), CAST(:event_types AS text[])) AS claimed (message_id, event_type) "
    "ON CONFLICT DO NOTHING RETURNING message_id"
)


async def claim_many(
    session: AsyncSession, *, consumer: str, messages: Sequence[tuple[UUID, str]]
) -> set[UUID]:
    """Claim several messages (id, event type) at once; returns the ids that were not handled before.

    The same guarantee as ``claim``: a copy being handled in another transaction blocks until that one ends.
    """
    result = await session.execute(
        _CLAIM_MANY,
        {
            "consumer": consumer,
            "message_ids": [message_id for message_id, _ in messages],
            "event_types": [event_type for _, event_type in messages],
        },
    )
    return set(result.scalars())
