"""Acknowledgements from the services that their deny lists hold one of identity's revocations."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.revocations import REVOCATION_APPLIED, RevocationAppliedBase

from identity.revocations import service


async def on_revocation_applied(
    session: AsyncSession, envelope: Envelope, data: RevocationAppliedBase
) -> None:
    await service.record_applied(
        session, revocation_id=data.revocation_id, service=data.service, applied_at=data.applied_at
    )


subscription = Subscription(
    queue="identity.revocation-acknowledgements",
    handlers={applied.event_type: on_revocation_applied for applied in REVOCATION_APPLIED.values()},
)
