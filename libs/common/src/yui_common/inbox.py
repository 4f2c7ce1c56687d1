"""The idempotent-consumer claim: a message is handled at most once per consumer."""

from __future__ import annotations

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
