"""Care teams (C6): enrolling members, invitations and their answers, leaving and removing. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.consent import (
    CareTeamMemberAddedV1,
    CareTeamMemberInvitedV1,
    CareTeamMemberRemovedV1,
)
from yui_common.problems import conflict, not_found

from consent.access import audit_subject, visible_subject
from consent.care_teams import repository
from consent.consents import repository as consent_repository
from consent.models import CareTeamInvitation, CareTeamMember, Consent, Subject
from consent.subjects import repository as subject_repository


async def enroll_member(
    session: AsyncSession, *, principal: Principal, subject: Subject, user_id: UUID, facility_id: UUID | None
) -> CareTeamMember:
    member = CareTeamMember(
        subject_id=subject.id, user_id=user_id, facility_id=facility_id, added_by=principal.user_id
    )
    if await repository.add_care_team_member(session, member):
        await outbox.add_event(
            session,
            CareTeamMemberAddedV1(subject_id=subject.id, user_id=user_id, facility_id=facility_id),
            tenant=subject.tenant,
            subject=str(subject.id),
        )
    member.added_at = datetime.now(UTC)
    return member


async def invite_member(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, user_id: UUID, facility_id: UUID | None
) -> CareTeamInvitation:
    """C6: a member invites a user; nothing is shared with them until they accept."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    if await repository.care_team_member(session, subject_id=subject.id, user_id=user_id):
        raise conflict("The user is already on the care team.", "already-member")
    if await repository.pending_invitation(session, subject_id=subject.id, user_id=user_id):
        raise conflict("The user already has a pending invitation.", "already-invited")
    invitation = CareTeamInvitation(
        id=uuid7(),
        tenant=subject.tenant,
        subject_id=subject.id,
        user_id=user_id,
        facility_id=facility_id,
        invited_by=principal.user_id,
        status="pending",
        invited_at=datetime.now(UTC),
    )
    session.add(invitation)
    await session.flush()
    await outbox.add_event(
        session,
        CareTeamMemberInvitedV1(
            subject_id=subject.id,
            invitation_id=invitation.id,
            user_id=user_id,
            facility_id=facility_id,
            invited_by=principal.user_id,
        ),
        tenant=subject.tenant,
        subject=str(subject.id),
    )
    await audit_subject(session, principal, "care_team.invite", subject.id, invitee=str(user_id))
    return invitation


async def my_invitations(session: AsyncSession, *, principal: Principal) -> Sequence[CareTeamInvitation]:
    return await repository.invitations_for(session, tenant=principal.tenant, user_id=principal.user_id)


async def answer_invitation(
    session: AsyncSession, *, principal: Principal, invitation_id: UUID, accept: bool
) -> tuple[CareTeamInvitation, CareTeamMember | None, Consent | None]:
    """The invitee accepts (joins, reusing the consent on file: C3) or declines. Only the invitee sees it."""
    invitation = await repository.invitation_for_invitee(
        session, tenant=principal.tenant, invitation_id=invitation_id, user_id=principal.user_id
    )
    if invitation is None:
        raise not_found("invitation")
    if invitation.status != "pending":
        raise conflict(f"The invitation was already {invitation.status}.", "invitation-answered")
    invitation.status = "accepted" if accept else "declined"
    invitation.answered_at = datetime.now(UTC)
    subject = await subject_repository.subject_in_network(
        session, tenant=principal.tenant, subject_id=invitation.subject_id
    )
    assert subject is not None  # an invitation is only ever made for an existing subject of its network
    if not accept:
        await audit_subject(
            session, principal, "care_team.decline", subject.id, invitation=str(invitation.id)
        )
        return invitation, None, None
    # The facility is the one the invitee signed in with, not whatever the inviter guessed.
    member = await enroll_member(
        session,
        principal=principal,
        subject=subject,
        user_id=principal.user_id,
        facility_id=principal.facility_id,
    )
    consent_on_file = await consent_repository.active_consent(session, subject_id=subject.id)
    await audit_subject(
        session,
        principal,
        "care_team.join",
        subject.id,
        invitation=str(invitation.id),
        consent_reused=str(consent_on_file.id) if consent_on_file else None,
    )
    return invitation, member, consent_on_file


async def care_team(
    session: AsyncSession, *, principal: Principal, subject_id: UUID
) -> Sequence[CareTeamMember]:
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    members = await repository.care_team_of(session, subject_id=subject.id)
    await audit_subject(session, principal, "care_team.read", subject.id)
    return members


async def remove_member(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, user_id: UUID
) -> str:
    """C6: a member leaves (their own id) or removes another; returns "left" or "removed"."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    members = await repository.care_team_of(session, subject_id=subject.id)
    if user_id not in {m.user_id for m in members}:
        raise not_found("care-team member")
    if len(members) == 1:
        raise conflict(
            "The last member cannot leave: nobody would be responsible for the subject.", "last-member"
        )
    reason = "left" if user_id == principal.user_id else "removed"
    await repository.remove_care_team_member(session, subject_id=subject.id, user_id=user_id)
    await outbox.add_event(
        session,
        CareTeamMemberRemovedV1(subject_id=subject.id, user_id=user_id, reason=reason),
        tenant=subject.tenant,
        subject=str(subject.id),
    )
    await audit_subject(session, principal, f"care_team.{reason}", subject.id, member=str(user_id))
    return reason
