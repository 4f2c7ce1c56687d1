"""The portal's client of consent: subjects, their consents and scanned forms, care teams, withdrawals and
exceptional access."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import httpx
from pydantic import BaseModel, ConfigDict
from yui_common.people import PersonRef

from portal.clients.base import Answer, ServiceClient, ServiceProblem

SubjectStatus = Literal["active", "support_stopped"]
SubjectFilter = Literal["active", "support_stopped", "all"]


class SubjectSummary(Answer):
    id: UUID
    name: str
    name_kana: str
    birth_date: date | None = None
    # support_stopped: consent withdrawn; consent then sends only the name, kana and status.
    status: SubjectStatus = "active"


class Subject(SubjectSummary):
    sex: str | None = None  # male | female | other | unknown
    municipality_code: str | None = None
    postal_code: str | None = None
    address: str | None = None
    phone: str | None = None
    consent_status: Literal["none", "active", "withdrawn"] = "none"


class Municipality(Answer):
    """One of the network's municipalities (C1), by name."""

    municipality_code: str
    name: str


class DuplicateCandidate(Answer):
    """A subject consent thinks may be the one being registered (c9)."""

    id: UUID
    name_kana: str
    birth_date: date | None = None
    registered_at: datetime
    on_my_team: bool = False


class Consent(Answer):
    id: UUID
    status: str
    given_by: str
    proxy_name: str | None = None
    given_on: date
    form_on_file: bool = False


class CareTeamMember(Answer):
    user_id: UUID
    member: PersonRef
    added_at: datetime
    is_lead: bool = False
    # consent's rule: the member themself, the team's lead, or the member's facility administrator.
    may_remove: bool = False


class CareTeamInvitation(Answer):
    id: UUID
    subject_id: UUID
    user_id: UUID
    invitee: PersonRef
    invited_by: UUID
    invited_by_person: PersonRef
    status: str
    invited_at: datetime
    # Set in the invitee's own list: the patient the invitation is about.
    subject_name: str | None = None


class CascadeStep(Answer):
    service: str
    completed_at: datetime | None = None
    items_affected: int | None = None
    overdue: bool = False


class Withdrawal(Answer):
    requested_at: datetime
    complete: bool
    steps: list[CascadeStep]


class ExceptionalAccess(Answer):
    subject_id: UUID
    ground: str
    status: str
    requested_at: datetime


# --- what the portal writes (consent checks every field again; these keep today's JSON on the wire) -------


class SubjectRegistration(BaseModel):
    """A new subject (consent's SubjectCreate): optional fields left None are not sent."""

    model_config = ConfigDict(frozen=True)
    name: str
    name_kana: str
    municipality_code: str
    confirm_not_duplicate: bool = False
    birth_date: str | None = None
    sex: str | None = None
    postal_code: str | None = None
    address: str | None = None
    phone: str | None = None


class ConsentRecord(BaseModel):
    """A consent given (consent's ConsentCreate). The proxy's name and relation are sent when set, even as
    None (a proxy consent without them is consent's to refuse), and left out of a subject's own consent."""

    model_config = ConfigDict(frozen=True)
    given_by: Literal["subject", "proxy"] = "subject"
    given_on: str
    proxy_name: str | None = None
    proxy_relation: str | None = None


class WithdrawalRequest(BaseModel):
    """A withdrawal (consent's WithdrawalCreate): the requester's name and relation are sent when set, even as
    None, and left out of the subject's own request."""

    model_config = ConfigDict(frozen=True)
    requested_by: Literal["subject", "proxy"] = "subject"
    requester_name: str | None = None
    requester_relation: str | None = None


class CareTeamInvite(BaseModel):
    """A user invited to a subject's care team (consent's CareTeamMemberCreate)."""

    model_config = ConfigDict(frozen=True)
    user_id: UUID
    facility_id: str | None = None


class ExceptionalAccessRequest(BaseModel):
    """Exceptional access to a subject without their consent (consent's ExceptionalAccessCreate)."""

    model_config = ConfigDict(frozen=True)
    subject_id: UUID
    ground: str
    reason: str


def duplicate_candidates(problem: ServiceProblem) -> list[DuplicateCandidate]:
    """The candidates of consent's 409 ``likely-duplicate`` answer to a registration."""
    return [DuplicateCandidate.model_validate(c) for c in problem.extensions.get("candidates", [])]


class ConsentClient(ServiceClient):
    service = "consent"

    async def subjects(
        self, *, kana: str = "", status: SubjectFilter = "active", limit: int = 200
    ) -> list[SubjectSummary]:
        """The caller's subjects: by default the working list (support not stopped)."""
        params: dict[str, Any] = {"limit": limit, "status": status}
        if kana:
            params["kana"] = kana
        return await self.read(list[SubjectSummary], "GET", "/subjects", params=params)

    async def municipalities(self) -> list[Municipality]:
        return await self.read(list[Municipality], "GET", "/municipalities")

    async def subject(self, subject_id: UUID) -> Subject:
        return await self.read(Subject, "GET", f"/subjects/{subject_id}")

    async def register(self, subject: SubjectRegistration) -> Subject:
        """A new subject; a 409 carries the likely duplicates (see duplicate_candidates)."""
        body = subject.model_dump(mode="json", exclude_none=True)
        return await self.read(Subject, "POST", "/subjects", json=body)

    async def consents(self, subject_id: UUID) -> list[Consent]:
        return await self.read(list[Consent], "GET", f"/subjects/{subject_id}/consents")

    async def record_consent(self, subject_id: UUID, consent: ConsentRecord) -> Consent:
        # exclude_unset, not exclude_none: a proxy's name and relation go as null when blank (see ConsentRecord).
        body = consent.model_dump(mode="json", exclude_unset=True)
        return await self.read(Consent, "POST", f"/subjects/{subject_id}/consents", json=body)

    async def store_consent_form(
        self, subject_id: UUID, consent_id: UUID, *, filename: str, content: bytes, content_type: str
    ) -> None:
        files = {"form": (filename, content, content_type)}
        await self.call("PUT", f"/subjects/{subject_id}/consents/{consent_id}/form", files=files)

    async def open_consent_form(self, subject_id: UUID, consent_id: UUID) -> httpx.Response:
        """The scanned form's bytes, streamed through consent (checked and audited there): the caller closes
        the answer."""
        return await self.open(f"/subjects/{subject_id}/consents/{consent_id}/form/content")

    async def care_team(self, subject_id: UUID) -> list[CareTeamMember]:
        return await self.read(list[CareTeamMember], "GET", f"/subjects/{subject_id}/care-team")

    async def invite_to_care_team(self, subject_id: UUID, *, user_id: UUID, facility_id: str | None) -> None:
        invite = CareTeamInvite(user_id=user_id, facility_id=facility_id or None)
        body = invite.model_dump(mode="json", exclude_none=True)
        await self.call("POST", f"/subjects/{subject_id}/care-team", json=body)

    async def pending_invitations(self, subject_id: UUID) -> list[CareTeamInvitation]:
        return await self.read(
            list[CareTeamInvitation], "GET", f"/subjects/{subject_id}/care-team/invitations"
        )

    async def remove_from_care_team(self, subject_id: UUID, user_id: UUID) -> None:
        await self.call("DELETE", f"/subjects/{subject_id}/care-team/{user_id}")

    async def my_invitations(self) -> list[CareTeamInvitation]:
        return await self.read(list[CareTeamInvitation], "GET", "/care-team/invitations")

    async def answer_invitation(self, invitation_id: UUID, answer: Literal["accept", "decline"]) -> None:
        await self.call("POST", f"/care-team/invitations/{invitation_id}/{answer}")

    async def withdraw(self, subject_id: UUID, request: WithdrawalRequest) -> None:
        # exclude_unset, not exclude_none: a proxy's name and relation go as null when blank (as today).
        body = request.model_dump(mode="json", exclude_unset=True)
        await self.call("POST", f"/subjects/{subject_id}/withdrawals", json=body)

    async def withdrawals(self, subject_id: UUID) -> list[Withdrawal]:
        return await self.read(list[Withdrawal], "GET", f"/subjects/{subject_id}/withdrawals")

    async def my_exceptional_access(self) -> list[ExceptionalAccess]:
        return await self.read(list[ExceptionalAccess], "GET", "/exceptional-access/mine")

    async def request_exceptional_access(self, *, subject_id: UUID, ground: str, reason: str) -> None:
        access = ExceptionalAccessRequest(subject_id=subject_id, ground=ground, reason=reason)
        body = access.model_dump(mode="json", exclude_none=True)
        await self.call("POST", "/exceptional-access", json=body)
