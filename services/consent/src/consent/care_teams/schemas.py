"""HTTP models of care-team members, invitations and memberships: every person named carries a PersonRef."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from yui_common.people import PersonRef, person_or_unknown

from consent.consents.schemas import ConsentRead
from consent.models import CareTeamInvitation, CareTeamMember


class CareTeamMemberCreate(BaseModel):
    """Invite a colleague, picked by name from the staff directory (the page never shows the id)."""

    model_config = ConfigDict(extra="forbid")
    user_id: UUID
    facility_id: UUID | None = None


class CareTeamMemberRead(BaseModel):
    subject_id: UUID
    user_id: UUID
    member: PersonRef
    facility_id: UUID | None
    added_at: datetime
    # The team's lead (who registered the subject, until they leave) may remove any member.
    is_lead: bool = False
    # Whether the caller may remove this member: themself, the lead, or their facility's administrator.
    may_remove: bool = False


class InvitationRead(BaseModel):
    id: UUID
    subject_id: UUID
    user_id: UUID
    invitee: PersonRef
    facility_id: UUID | None
    invited_by: UUID
    invited_by_person: PersonRef
    status: str
    invited_at: datetime
    answered_at: datetime | None
    # For the invitee's own list: the patient the invitation is about, by name.
    subject_name: str | None = None


class MembershipRead(BaseModel):
    """C3: a facility joining the team reuses the consent on file; it does not collect another."""

    member: CareTeamMemberRead
    consent_on_file: ConsentRead | None


def member_read(
    member: CareTeamMember, people: dict[UUID, PersonRef], *, is_lead: bool = False, may_remove: bool = False
) -> CareTeamMemberRead:
    return CareTeamMemberRead(
        subject_id=member.subject_id,
        user_id=member.user_id,
        member=person_or_unknown(people, member.user_id),
        facility_id=member.facility_id,
        added_at=member.added_at,
        is_lead=is_lead,
        may_remove=may_remove,
    )


def invitation_read(
    invitation: CareTeamInvitation, people: dict[UUID, PersonRef], *, subject_name: str | None = None
) -> InvitationRead:
    return InvitationRead(
        id=invitation.id,
        subject_id=invitation.subject_id,
        user_id=invitation.user_id,
        invitee=person_or_unknown(people, invitation.user_id),
        facility_id=invitation.facility_id,
        invited_by=invitation.invited_by,
        invited_by_person=person_or_unknown(people, invitation.invited_by),
        status=invitation.status,
        invited_at=invitation.invited_at,
        answered_at=invitation.answered_at,
        subject_name=subject_name,
    )
