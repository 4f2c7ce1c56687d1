"""Reports from other services that their part of a withdrawal cascade is done."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope, SupportStoppedBase
from yui_common.events.federation import FederationPeerWithdrawalV1, FederationSupportStoppedV1
from yui_common.events.notify import NotifySupportStoppedV1
from yui_common.events.timeline import TimelineSupportStoppedV1

from consent.withdrawals import service


async def on_support_stopped(session: AsyncSession, envelope: Envelope, data: SupportStoppedBase) -> None:
    await service.record_cascade_step_done(
        session,
        withdrawal_id=data.withdrawal_id,
        service=envelope.source,
        completed_at=data.completed_at,
        items_affected=data.items_affected,
    )


async def on_peer_withdrawal(
    session: AsyncSession, envelope: Envelope, data: FederationPeerWithdrawalV1
) -> None:
    """A peer network's part: a pending row when federation told it to purge, done when it acknowledged."""
    await service.record_peer_step(
        session,
        withdrawal_id=data.withdrawal_id,
        peer=data.peer,
        done=data.done,
        at=data.at,
        items_affected=data.items_affected,
    )


subscription = Subscription(
    queue="consent.cascade-reports",
    handlers={
        TimelineSupportStoppedV1.event_type: on_support_stopped,
        NotifySupportStoppedV1.event_type: on_support_stopped,
        FederationSupportStoppedV1.event_type: on_support_stopped,
        FederationPeerWithdrawalV1.event_type: on_peer_withdrawal,
    },
)
