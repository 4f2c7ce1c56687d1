"""HTTP models of care-team members, invitations and memberships."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from consent.consents.schemas import ConsentRead


class CareTeamMemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: UUID
    facility_id: UUID | None = None


class CareTeamMemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    subject_id: UUID
    user_id: UUID
    facility_id: UUID | None
    added_at: datetime


class InvitationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    subject_id: UUID
    user_id: UUID
    facility_id: UUID | None
    invited_by: UUID
    status: str
    invited_at: datetime
    answered_at: datetime | None


class MembershipRead(BaseModel):
    """C3: a facility joining the team reuses the consent on file; it does not collect another."""

    member: CareTeamMemberRead
    consent_on_file: ConsentRead | None
