"""Consent's events: who may see a subject, and the withdrawal cascade."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.consent import (
    CareTeamMemberAddedV1,
    CareTeamMemberRemovedV1,
    ConsentGivenV1,
    ConsentWithdrawnV1,
)

from timeline import objects
from timeline.access import service as access
from timeline.internal_events import SupportStopRequestedV1
from timeline.retention import service as retention
from timeline.settings import Settings


async def on_consent_given(session: AsyncSession, envelope: Envelope, data: ConsentGivenV1) -> None:
    await access.consent_given(session, tenant=envelope.tenant, subject_id=data.subject_id)


async def on_member_added(session: AsyncSession, envelope: Envelope, data: CareTeamMemberAddedV1) -> None:
    await access.care_team_member_added(
        session, tenant=envelope.tenant, subject_id=data.subject_id, user_id=data.user_id
    )


async def on_member_removed(session: AsyncSession, envelope: Envelope, data: CareTeamMemberRemovedV1) -> None:
    await access.care_team_member_removed(session, subject_id=data.subject_id, user_id=data.user_id)


async def on_consent_withdrawn(session: AsyncSession, envelope: Envelope, data: ConsentWithdrawnV1) -> None:
    await access.refuse_subject(session, tenant=envelope.tenant, withdrawal=data)


async def on_support_stop_requested(
    session: AsyncSession, envelope: Envelope, data: SupportStopRequestedV1
) -> None:
    # In delete mode the subject's objects go too; removal is idempotent, so a redelivery is harmless.
    store = objects.store_for(Settings()) if data.withdrawal.mode == "delete" else None
    await retention.stop_support(session, tenant=envelope.tenant, withdrawal=data.withdrawal, store=store)


subscription = Subscription(
    queue="timeline.consent-events",
    handlers={
        ConsentGivenV1.event_type: on_consent_given,
        CareTeamMemberAddedV1.event_type: on_member_added,
        CareTeamMemberRemovedV1.event_type: on_member_removed,
        ConsentWithdrawnV1.event_type: on_consent_withdrawn,
    },
)

# timeline's own follow-up work, on a queue of its own so a long stop never holds up consent's events.
support_stops = Subscription(
    queue="timeline.support-stops",
    handlers={SupportStopRequestedV1.event_type: on_support_stop_requested},
)
