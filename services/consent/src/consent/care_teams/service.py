"""Care teams (C6): enrolling members, invitations and their answers, leaving and removing. Never commits.

Who may remove a member (issue 10): the member themself (leaving), the team's lead (whoever registered the
subject, until they leave; then the longest-standing member), or an administrator of the member's own facility
(even one not on the team: their staff member moved on). Anyone else, a nurse removing the doctor for
instance, is refused with 403. The last member never leaves. Each removal is audited with the ground it used.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.consent import (
    CareTeamInvitationDeclinedV1,
    CareTeamMemberAddedV1,
    CareTeamMemberInvitedV1,
    CareTeamMemberRemovedV1,
)
from yui_common.people import PersonRef, people_by_id
from yui_common.problems import Problem, conflict, not_found

from consent.access import audit_subject, visible_subject
from consent.care_teams import repository
from consent.care_teams.schemas import CareTeamMemberRead, InvitationRead, invitation_read, member_read
from consent.consents import repository as consent_repository
from consent.models import CareTeamInvitation, CareTeamMember, Consent, Person, Subject
from consent.subjects import repository as subject_repository
from consent.subjects.changes import SUPPORT_STOPPED

FACILITY_ADMIN = "facility_admin"


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
    """C6: a member invites a colleague of the network (known by name); nothing is shared until they accept."""
    invitation, _ = await _invite(
        session, principal=principal, subject_id=subject_id, user_id=user_id, facility_id=facility_id
    )
    return invitation


async def invite_member_by_name(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, user_id: UUID, facility_id: UUID | None
) -> InvitationRead:
    """``invite_member``, answered with the invitee and the inviter by name (what the API returns)."""
    invitation, people = await _invite(
        session, principal=principal, subject_id=subject_id, user_id=user_id, facility_id=facility_id
    )
    return invitation_read(invitation, people)


async def _invite(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, user_id: UUID, facility_id: UUID | None
) -> tuple[CareTeamInvitation, dict[UUID, PersonRef]]:
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    if subject.status == SUPPORT_STOPPED:
        raise conflict("Support for the subject stopped: nobody joins its team any more.", "support-stopped")
    people = await people_by_id(session, Person, subject.tenant, {user_id, principal.user_id})
    invitee = people.get(user_id)
    if invitee is None:
        raise Problem(
            422,
            "unknown-person",
            "Unknown person",
            "Nobody of this network is known by that user; pick a colleague from the staff directory.",
        )
    if invitee.status != "active":
        raise Problem(
            422, "person-not-active", "Person not active", "That user's account is suspended or ended."
        )
    if await repository.care_team_member(session, subject_id=subject.id, user_id=user_id):
        raise conflict("The user is already on the care team.", "already-member")
    if await repository.pending_invitation(session, subject_id=subject.id, user_id=user_id):
        raise conflict("The user already has a pending invitation.", "already-invited")
    invitation = CareTeamInvitation(
        id=uuid7(),
        tenant=subject.tenant,
        subject_id=subject.id,
        user_id=user_id,
        facility_id=facility_id or invitee.facility_id,
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
            facility_id=invitation.facility_id,
            invited_by=principal.user_id,
        ),
        tenant=subject.tenant,
        subject=str(subject.id),
    )
    await audit_subject(session, principal, "care_team.invite", subject.id, invitee=str(user_id))
    return invitation, people


async def my_invitations(session: AsyncSession, *, principal: Principal) -> list[InvitationRead]:
    """The caller's pending invitations, each naming the patient and who invited them."""
    invitations = await repository.invitations_for(
        session, tenant=principal.tenant, user_id=principal.user_id
    )
    subjects = await subject_repository.subjects_by_id(
        session, tenant=principal.tenant, subject_ids=[i.subject_id for i in invitations]
    )
    names = {s.id: s.name for s in subjects}
    people = await people_by_id(
        session, Person, principal.tenant, {u for i in invitations for u in (i.user_id, i.invited_by)}
    )
    return [invitation_read(i, people, subject_name=names.get(i.subject_id)) for i in invitations]


async def pending_invitations(
    session: AsyncSession, *, principal: Principal, subject_id: UUID
) -> list[InvitationRead]:
    """The team's invitations not yet answered: who was invited, by whom."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    invitations = await repository.pending_invitations_of(session, subject_id=subject.id)
    people = await people_by_id(
        session, Person, subject.tenant, {u for i in invitations for u in (i.user_id, i.invited_by)}
    )
    await audit_subject(session, principal, "care_team.invitations.read", subject.id)
    return [invitation_read(i, people) for i in invitations]


async def answer_invitation(
    session: AsyncSession, *, principal: Principal, invitation_id: UUID, accept: bool
) -> tuple[InvitationRead, CareTeamMemberRead | None, Consent | None]:
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
    people = await people_by_id(session, Person, subject.tenant, {invitation.user_id, invitation.invited_by})
    if not accept:
        await outbox.add_event(
            session,
            CareTeamInvitationDeclinedV1(
                subject_id=subject.id, invitation_id=invitation.id, user_id=invitation.user_id
            ),
            tenant=subject.tenant,
            subject=str(subject.id),
        )
        await audit_subject(
            session, principal, "care_team.decline", subject.id, invitation=str(invitation.id)
        )
        return invitation_read(invitation, people, subject_name=subject.name), None, None
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
    return (
        invitation_read(invitation, people, subject_name=subject.name),
        member_read(member, people, may_remove=True),
        consent_on_file,
    )


def team_lead(subject: Subject) -> UUID:
    return subject.lead_user_id or subject.registered_by


def removal_ground(
    principal: Principal,
    *,
    subject: Subject,
    member: CareTeamMember,
    member_facility_id: UUID | None,
    team_size: int,
) -> str | None:
    """Why the caller may remove this member ("self", "lead" or "facility_admin"), or None when they may not."""
    if team_size <= 1:
        return None
    if member.user_id == principal.user_id:
        return "self"
    if principal.user_id == team_lead(subject):
        return "lead"
    if (
        principal.has_role(FACILITY_ADMIN)
        and principal.facility_id is not None
        and member_facility_id == principal.facility_id
    ):
        return "facility_admin"
    return None


def _member_facility(member: CareTeamMember, people: dict[UUID, PersonRef]) -> UUID | None:
    person = people.get(member.user_id)
    return member.facility_id or (person.facility_id if person else None)


async def care_team(
    session: AsyncSession, *, principal: Principal, subject_id: UUID
) -> list[CareTeamMemberRead]:
    """The team by name, with its lead and whom the caller may remove."""
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    members = await repository.care_team_of(session, subject_id=subject.id)
    people = await people_by_id(session, Person, subject.tenant, {m.user_id for m in members})
    lead = team_lead(subject)
    await audit_subject(session, principal, "care_team.read", subject.id)
    return [
        member_read(
            m,
            people,
            is_lead=m.user_id == lead,
            may_remove=removal_ground(
                principal,
                subject=subject,
                member=m,
                member_facility_id=_member_facility(m, people),
                team_size=len(members),
            )
            is not None,
        )
        for m in members
    ]


async def _subject_for_removal(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, user_id: UUID
) -> Subject:
    """The subject, for a member of its team; or for an administrator whose facility's staff is on it."""
    subject = await subject_repository.subject_visible_to(
        session, tenant=principal.tenant, subject_id=subject_id, user_id=principal.user_id
    )
    if subject is not None:
        return subject
    if principal.has_role(FACILITY_ADMIN) and principal.facility_id is not None:
        subject = await subject_repository.subject_in_network(
            session, tenant=principal.tenant, subject_id=subject_id
        )
        member = subject and await repository.care_team_member(
            session, subject_id=subject.id, user_id=user_id
        )
        if subject is not None and member:
            people = await people_by_id(session, Person, subject.tenant, {user_id})
            if _member_facility(member, people) == principal.facility_id:
                return subject
    raise not_found("subject")


async def remove_member(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, user_id: UUID
) -> str:
    """C6: a member leaves (their own id) or is removed (see the module's rule); returns "left" or "removed"."""
    subject = await _subject_for_removal(session, principal=principal, subject_id=subject_id, user_id=user_id)
    members = await repository.care_team_of(session, subject_id=subject.id)
    member = next((m for m in members if m.user_id == user_id), None)
    if member is None:
        raise not_found("care-team member")
    if len(members) == 1:
        raise conflict(
            "The last member cannot leave: nobody would be responsible for the subject.", "last-member"
        )
    people = await people_by_id(session, Person, subject.tenant, {user_id})
    ground = removal_ground(
        principal,
        subject=subject,
        member=member,
        member_facility_id=_member_facility(member, people),
        team_size=len(members),
    )
    if ground is None:
        raise Problem(
            403,
            "not-allowed-to-remove",
            "Not allowed",
            "Only the member themself, the team's lead or their facility's administrator removes a member.",
        )
    reason = "left" if ground == "self" else "removed"
    await repository.remove_care_team_member(session, subject_id=subject.id, user_id=user_id)
    detail: dict[str, object] = {"member": str(user_id), "ground": ground}
    if user_id == team_lead(subject):
        # The lead passes to the longest-standing member who stays.
        successor = next(m.user_id for m in members if m.user_id != user_id)
        subject.lead_user_id = successor
        detail["new_lead"] = str(successor)
    await outbox.add_event(
        session,
        CareTeamMemberRemovedV1(subject_id=subject.id, user_id=user_id, reason=reason),
        tenant=subject.tenant,
        subject=str(subject.id),
    )
    await audit_subject(session, principal, f"care_team.{reason}", subject.id, **detail)
    return reason
