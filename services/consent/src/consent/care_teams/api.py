"""A subject's care team (list, invite, leave or remove) and the invitee's side of invitations: see them,
accept (join) or decline."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from consent.care_teams import service
from consent.care_teams.schemas import (
    CareTeamMemberCreate,
    CareTeamMemberRead,
    InvitationRead,
    MembershipRead,
)
from consent.consents.schemas import consent_read
from consent.dependencies import SUBJECT_NOT_FOUND

router = APIRouter(prefix="/subjects", tags=["subjects"])


@router.get("/{subject_id}/care-team", response_model=list[CareTeamMemberRead], responses=SUBJECT_NOT_FOUND)
async def list_care_team(
    subject_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> list[CareTeamMemberRead]:
    """The members by name (PersonRef in ``member``), the lead, and whom the caller may remove."""
    return await service.care_team(session, principal=principal, subject_id=subject_id)


@router.get(
    "/{subject_id}/care-team/invitations", response_model=list[InvitationRead], responses=SUBJECT_NOT_FOUND
)
async def list_pending_invitations(
    subject_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> list[InvitationRead]:
    """The team's invitations not yet answered, each with the invitee and the inviter by name."""
    return await service.pending_invitations(session, principal=principal, subject_id=subject_id)


@router.post(
    "/{subject_id}/care-team",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationRead,
    responses={
        **SUBJECT_NOT_FOUND,
        409: {"description": "Already a member or invited, or support stopped"},
        422: {"description": "Nobody of this network is known by that user (or their account is not active)"},
    },
)
async def invite_care_team_member(
    subject_id: UUID, body: CareTeamMemberCreate, session: DbSession, principal: CurrentPrincipal
) -> InvitationRead:
    """C6: invite a colleague of the network; they join (and see the subject) only once they accept."""
    return await service.invite_member_by_name(
        session,
        principal=principal,
        subject_id=subject_id,
        user_id=body.user_id,
        facility_id=body.facility_id,
    )


@router.delete(
    "/{subject_id}/care-team/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **SUBJECT_NOT_FOUND,
        403: {"description": "Only the member, the team's lead or the member's facility administrator"},
        409: {"description": "The last member cannot leave"},
    },
)
async def remove_care_team_member(
    subject_id: UUID, user_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> None:
    """Leave the team (your own user id), or remove a member as the team's lead or as the administrator of the
    member's facility."""
    await service.remove_member(session, principal=principal, subject_id=subject_id, user_id=user_id)


invitations = APIRouter(prefix="/care-team/invitations", tags=["care team"])
INVITATION_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such invitation addressed to you"}
}


@invitations.get("", response_model=list[InvitationRead])
async def my_invitations(session: DbSession, principal: CurrentPrincipal) -> list[InvitationRead]:
    """The caller's pending invitations, each naming the patient (``subject_name``) and the inviter."""
    return await service.my_invitations(session, principal=principal)


@invitations.post("/{invitation_id}/accept", response_model=MembershipRead, responses=INVITATION_NOT_FOUND)
async def accept_invitation(
    invitation_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> MembershipRead:
    """Join the care team; the consent already on file is referenced, not collected again (C3)."""
    _, member, consent = await service.answer_invitation(
        session, principal=principal, invitation_id=invitation_id, accept=True
    )
    assert member is not None
    return MembershipRead(
        member=member,
        consent_on_file=consent_read(consent) if consent else None,
    )


@invitations.post("/{invitation_id}/decline", response_model=InvitationRead, responses=INVITATION_NOT_FOUND)
async def decline_invitation(
    invitation_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> InvitationRead:
    invitation, _, _ = await service.answer_invitation(
        session, principal=principal, invitation_id=invitation_id, accept=False
    )
    return invitation
