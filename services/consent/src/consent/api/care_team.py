"""The invitee's side of care-team invitations: see them, accept (join) or decline."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from consent import service
from consent.api.subjects import consent_read
from consent.schemas import CareTeamMemberRead, InvitationRead, MembershipRead

router = APIRouter(prefix="/care-team/invitations", tags=["care team"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such invitation addressed to you"}}


@router.get("", response_model=list[InvitationRead])
async def my_invitations(session: DbSession, principal: CurrentPrincipal) -> list[InvitationRead]:
    return [
        InvitationRead.model_validate(i) for i in await service.my_invitations(session, principal=principal)
    ]


@router.post("/{invitation_id}/accept", response_model=MembershipRead, responses=NOT_FOUND)
async def accept_invitation(
    invitation_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> MembershipRead:
    """Join the care team; the consent already on file is referenced, not collected again (C3)."""
    _, member, consent = await service.answer_invitation(
        session, principal=principal, invitation_id=invitation_id, accept=True
    )
    assert member is not None
    return MembershipRead(
        member=CareTeamMemberRead.model_validate(member),
        consent_on_file=consent_read(consent) if consent else None,
    )


@router.post("/{invitation_id}/decline", response_model=InvitationRead, responses=NOT_FOUND)
async def decline_invitation(
    invitation_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> InvitationRead:
    invitation, _, _ = await service.answer_invitation(
        session, principal=principal, invitation_id=invitation_id, accept=False
    )
    return InvitationRead.model_validate(invitation)
