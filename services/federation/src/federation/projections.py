"""What federation hears on the bus: identity's people and consent's subjects, consents and care teams, and the
withdrawal, which refuses every peer's fetch of the subject from this commit on and tells the peers holding it."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.consent import (
    CareTeamMemberAddedV1,
    CareTeamMemberRemovedV1,
    ConsentGivenV1,
    ConsentWithdrawnV1,
    SubjectChangedV1,
)
from yui_common.events.identity import PersonChangedV1
from yui_common.events.timeline import PostCreatedV1
from yui_common.people import apply_person_changed

from federation.models import CareTeamMember, Person, SubjectState
from federation.referrals import notices, withdrawal


async def _subject_row(session: AsyncSession, tenant: str, subject_id: object) -> None:
    await session.execute(
        insert(SubjectState).values(subject_id=subject_id, tenant=tenant).on_conflict_do_nothing()
    )


async def on_person_changed(session: AsyncSession, envelope: Envelope, data: PersonChangedV1) -> None:
    await apply_person_changed(session, Person, envelope.tenant, data)


async def on_subject_changed(session: AsyncSession, envelope: Envelope, data: SubjectChangedV1) -> None:
    await _subject_row(session, envelope.tenant, data.subject_id)
    await session.execute(
        sa.update(SubjectState)
        .where(SubjectState.subject_id == data.subject_id, SubjectState.name_version < data.version)
        .values(name=data.name, name_kana=data.name_kana, name_version=data.version)
    )


async def on_consent_given(session: AsyncSession, envelope: Envelope, data: ConsentGivenV1) -> None:
    await _subject_row(session, envelope.tenant, data.subject_id)
    await session.execute(
        sa.update(SubjectState)
        .where(SubjectState.subject_id == data.subject_id)
        .values(consent_active=True, consent_version=SubjectState.consent_version + 1, withdrawn_at=None)
    )


async def on_consent_withdrawn(session: AsyncSession, envelope: Envelope, data: ConsentWithdrawnV1) -> None:
    await _subject_row(session, envelope.tenant, data.subject_id)
    # The row lock orders this with a fetch in flight (which holds the row FOR SHARE): a fetch either answered
    # before this commit or reads the withdrawal.
    await session.execute(
        sa.update(SubjectState)
        .where(SubjectState.subject_id == data.subject_id)
        .values(consent_active=False, withdrawn_at=data.withdrawn_at or datetime.now(UTC))
    )
    await withdrawal.withdraw_referrals(session, tenant=envelope.tenant, withdrawal=data)


async def on_member_added(session: AsyncSession, envelope: Envelope, data: CareTeamMemberAddedV1) -> None:
    await session.execute(
        insert(CareTeamMember)
        .values(subject_id=data.subject_id, user_id=data.user_id)
        .on_conflict_do_nothing()
    )


async def on_member_removed(session: AsyncSession, envelope: Envelope, data: CareTeamMemberRemovedV1) -> None:
    await session.execute(
        sa.delete(CareTeamMember).where(
            CareTeamMember.subject_id == data.subject_id, CareTeamMember.user_id == data.user_id
        )
    )


async def on_post_created(session: AsyncSession, envelope: Envelope, data: PostCreatedV1) -> None:
    await notices.tell_peers(session, tenant=envelope.tenant, post=data)


subscriptions = [
    Subscription(
        queue="federation.identity-events",
        handlers={PersonChangedV1.event_type: on_person_changed},
    ),
    Subscription(
        queue="federation.consent-events",
        handlers={
            SubjectChangedV1.event_type: on_subject_changed,
            ConsentGivenV1.event_type: on_consent_given,
            ConsentWithdrawnV1.event_type: on_consent_withdrawn,
            CareTeamMemberAddedV1.event_type: on_member_added,
            CareTeamMemberRemovedV1.event_type: on_member_removed,
        },
    ),
    Subscription(
        queue="federation.timeline-events",
        handlers={PostCreatedV1.event_type: on_post_created},
    ),
]
