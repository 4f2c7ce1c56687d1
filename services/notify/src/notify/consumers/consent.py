"""Consent's events: care-team projection, the withdrawal cascade, exceptional access on my subject."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.consent import (
    CareTeamMemberAddedV1,
    CareTeamMemberRemovedV1,
    ConsentWithdrawnV1,
    ExceptionalAccessGrantedV1,
)

from notify import kinds, projections, service


async def on_member_added(session: AsyncSession, envelope: Envelope, data: CareTeamMemberAddedV1) -> None:
    await projections.join_care_team(
        session, tenant=envelope.tenant, subject_id=data.subject_id, user_id=data.user_id
    )


async def on_member_removed(session: AsyncSession, envelope: Envelope, data: CareTeamMemberRemovedV1) -> None:
    await projections.leave_care_team(session, subject_id=data.subject_id, user_id=data.user_id)


async def on_consent_withdrawn(session: AsyncSession, envelope: Envelope, data: ConsentWithdrawnV1) -> None:
    await service.support_stopped(session, tenant=envelope.tenant, event_id=envelope.id, withdrawal=data)


async def on_exceptional_access_granted(
    session: AsyncSession, envelope: Envelope, data: ExceptionalAccessGrantedV1
) -> None:
    await service.notify_team(
        session,
        tenant=envelope.tenant,
        subject_id=data.subject_id,
        kind=kinds.EXCEPTIONAL_ACCESS_GRANTED,
        source_event_id=envelope.id,
        params={
            "grant_id": str(data.grant_id),
            "ground": data.ground,
            "expires_at": data.expires_at.isoformat(),
        },
        exclude=data.user_id,
    )


subscription = Subscription(
    queue="notify.consent-events",
    handlers={
        CareTeamMemberAddedV1.event_type: on_member_added,
        CareTeamMemberRemovedV1.event_type: on_member_removed,
        ConsentWithdrawnV1.event_type: on_consent_withdrawn,
        ExceptionalAccessGrantedV1.event_type: on_exceptional_access_granted,
    },
)
