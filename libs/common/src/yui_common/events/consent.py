"""Events published by the consent service."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from yui_common.events import EventData, event


@event("consent.given.v1")
class ConsentGivenV1(EventData):
    subject_id: UUID
    consent_id: UUID
    given_at: datetime


@event("consent.withdrawn.v1")
class ConsentWithdrawnV1(EventData):
    """The subject (or their family) withdrew consent; every service stops or deletes what it holds."""

    subject_id: UUID
    consent_id: UUID
    withdrawal_id: UUID
    withdrawn_at: datetime
    # "stop" keeps data read-only as support stopped (支援中止); "delete" removes it (per network setting).
    mode: str = "stop"


@event("consent.care-team-member-added.v1")
class CareTeamMemberAddedV1(EventData):
    subject_id: UUID
    user_id: UUID
    facility_id: UUID | None = None


@event("consent.care-team-member-removed.v1")
class CareTeamMemberRemovedV1(EventData):
    subject_id: UUID
    user_id: UUID
    # "left" (the member left) or "removed" (another member removed them); absent in older events.
    reason: str | None = None


@event("consent.care-team-member-invited.v1")
class CareTeamMemberInvitedV1(EventData):
    """A team member invited a user; nothing is shared with them until they accept (then member-added)."""

    subject_id: UUID
    invitation_id: UUID
    user_id: UUID
    facility_id: UUID | None = None
    invited_by: UUID


@event("consent.exceptional-access-requested.v1")
class ExceptionalAccessRequestedV1(EventData):
    """C5: a user asked for access without consent; the operator must decide before anything is shared."""

    grant_id: UUID
    subject_id: UUID
    user_id: UUID
    facility_id: UUID | None = None
    ground: str  # disaster | abuse_or_violence | lost_capacity_no_family | other_emergency


@event("consent.exceptional-access-granted.v1")
class ExceptionalAccessGrantedV1(EventData):
    """C5: the operator approved access without consent until ``expires_at``; alert team and operator."""

    grant_id: UUID
    subject_id: UUID
    user_id: UUID
    facility_id: UUID | None = None
    ground: str
    approved_by: UUID
    expires_at: datetime


@event("consent.exceptional-access-ended.v1")
class ExceptionalAccessEndedV1(EventData):
    """C5: an exceptional grant ended (it expired by itself); the user's access without consent stops now."""

    grant_id: UUID
    subject_id: UUID
    user_id: UUID
    ended_at: datetime
    reason: str = "expired"


@event("consent.subject-changed.v1")
class SubjectChangedV1(EventData):
    """A subject's name as services that tell people about them show it (notify's notifications, issue 10).

    Published when a subject is registered, renamed, or their support stops; never their contact details.
    ``version`` grows with every change, so consumers keep the newest.
    """

    subject_id: UUID
    name: str
    name_kana: str | None = None
    status: str = "active"  # active | support_stopped
    version: int


@event("consent.care-team-invitation-declined.v1")
class CareTeamInvitationDeclinedV1(EventData):
    """The invitee declined: nothing about the subject may reach them any more, the invitation included (n5)."""

    subject_id: UUID
    invitation_id: UUID
    user_id: UUID
