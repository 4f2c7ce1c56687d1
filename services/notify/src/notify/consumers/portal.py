"""Handlers of the portal's events: the operator's notices and the maintenance switch reach every user."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.portal import ALL_NETWORKS, MaintenanceChangedV1, NoticePublishedV1

from notify import kinds, service


async def on_notice_published(session: AsyncSession, envelope: Envelope, data: NoticePublishedV1) -> None:
    # Users-only and public notices alike: the users of the network are who the in-app notice is for.
    await service.tell_active_users(
        session,
        tenant=envelope.tenant,
        kind=kinds.NOTICE_PUBLISHED,
        source_event_id=envelope.id,
        params={
            "notice_id": str(data.notice_id),
            "notice_kind": data.kind,
            "title": data.title,
            "starts_at": data.starts_at.isoformat() if data.starts_at else None,
            "ends_at": data.ends_at.isoformat() if data.ends_at else None,
        },
    )


async def on_maintenance_changed(
    session: AsyncSession, envelope: Envelope, data: MaintenanceChangedV1
) -> None:
    await service.tell_active_users(
        session,
        tenant=None if data.scope == ALL_NETWORKS else data.scope,
        kind=kinds.MAINTENANCE_STARTED if data.active else kinds.MAINTENANCE_ENDED,
        source_event_id=envelope.id,
        params={
            "reason": data.reason,
            "expected_end": data.expected_end.isoformat() if data.expected_end else None,
        },
    )


subscription = Subscription(
    queue="notify.portal-events",
    handlers={
        NoticePublishedV1.event_type: on_notice_published,
        MaintenanceChangedV1.event_type: on_maintenance_changed,
    },
)
