"""Consent's events: care-team and subject projections, invitations, the withdrawal cascade, exceptional access on
my subject."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.consent import (
    CareTeamInvitationDeclinedV1,
    CareTeamMemberAddedV1,
    CareTeamMemberInvitedV1,
    CareTeamMemberRemovedV1,
    ConsentWithdrawnV1,
    ExceptionalAccessGrantedV1,
    SubjectChangedV1,
)

from notify import kinds, projections, service
from notify.contents import PostContent


async def on_member_added(session: AsyncSession, envelope: Envelope, data: CareTeamMemberAddedV1) -> None:
    await projections.join_care_team(
        session, tenant=envelope.tenant, subject_id=data.subject_id, user_id=data.user_id
    )


async def on_member_removed(session: AsyncSession, envelope: Envelope, data: CareTeamMemberRemovedV1) -> None:
    await projections.leave_care_team(session, subject_id=data.subject_id, user_id=data.user_id)


async def on_member_invited(session: AsyncSession, envelope: Envelope, data: CareTeamMemberInvitedV1) -> None:
    # Addressed to the invitee, who is not on the team until they accept (kinds.ADDRESSEE_KINDS); the
    # notification names the patient and the inviter when read.
    if data.user_id == data.invited_by:
        return
    await service.tell(
        session,
        tenant=envelope.tenant,
        user_ids=[data.user_id],
        kind=kinds.CARE_TEAM_INVITED,
        source_event_id=envelope.id,
        subject_id=data.subject_id,
        params={"invitation_id": str(data.invitation_id)},
        content=PostContent(author_id=data.invited_by),
    )


async def on_invitation_declined(
    session: AsyncSession, envelope: Envelope, data: CareTeamInvitationDeclinedV1
) -> None:
    # The invitation is an addressee kind, shown off the team: it goes once declined, like when a member leaves.
    await projections.forget_invitation(session, subject_id=data.subject_id, user_id=data.user_id)


async def on_subject_changed(session: AsyncSession, envelope: Envelope, data: SubjectChangedV1) -> None:
    await projections.record_subject(session, tenant=envelope.tenant, data=data)


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
        CareTeamMemberInvitedV1.event_type: on_member_invited,
        CareTeamInvitationDeclinedV1.event_type: on_invitation_declined,
        SubjectChangedV1.event_type: on_subject_changed,
        ConsentWithdrawnV1.event_type: on_consent_withdrawn,
        ExceptionalAccessGrantedV1.event_type: on_exceptional_access_granted,
    },
)
