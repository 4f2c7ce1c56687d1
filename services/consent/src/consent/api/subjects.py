"""Subjects, their consents and consent forms, care team and withdrawal endpoints (all 404 to outsiders)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, File, Query, Request, UploadFile, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from consent import service
from consent.models import Consent, FamilyContact, Subject
from consent.schemas import (
    CareTeamMemberCreate,
    CareTeamMemberRead,
    ConsentCreate,
    ConsentFormLink,
    ConsentRead,
    FamilyContactCreate,
    FamilyContactRead,
    InvitationRead,
    SubjectCreate,
    SubjectRead,
    SubjectSummary,
    WithdrawalCreate,
    WithdrawalRead,
)

router = APIRouter(prefix="/subjects", tags=["subjects"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such subject, or not on its care team"}
}
FORM_LINK_TTL = timedelta(minutes=5)


def subject_read(subject: Subject, consent_status: str, contacts: list[FamilyContact]) -> SubjectRead:
    read = SubjectRead.model_validate(subject)
    return read.model_copy(
        update={
            "consent_status": consent_status,
            "family_contacts": [FamilyContactRead.model_validate(c) for c in contacts],
        }
    )


def consent_read(consent: Consent) -> ConsentRead:
    read = ConsentRead.model_validate(consent)
    return read.model_copy(update={"form_on_file": consent.form_object_key is not None})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubjectRead,
    responses={
        409: {"description": "Likely duplicates (c9): the problem lists the candidates"},
        422: {"description": "Outside the network's municipalities without an exception (C1)"},
    },
)
async def register_subject(
    body: SubjectCreate, session: DbSession, principal: CurrentPrincipal
) -> SubjectRead:
    fields = body.model_dump(exclude={"confirm_not_duplicate"})
    subject, contacts = await service.register_subject_with_contacts(
        session, principal=principal, refuse_likely_duplicates=not body.confirm_not_duplicate, **fields
    )
    return subject_read(subject, "none", list(contacts))


@router.get("", response_model=list[SubjectSummary])
async def search_subjects(
    session: DbSession,
    principal: CurrentPrincipal,
    kana: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    birth_date: date | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[SubjectSummary]:
    """The caller's own subjects (care team), by kana prefix typed any way (full/half width, hiragana)."""
    found = await service.search_subjects(
        session, principal=principal, kana=kana, birth_date=birth_date, limit=limit
    )
    return [SubjectSummary.model_validate(s) for s in found]


@router.get("/{subject_id}", response_model=SubjectRead, responses=NOT_FOUND)
async def read_subject(subject_id: UUID, session: DbSession, principal: CurrentPrincipal) -> SubjectRead:
    subject, consent_status, contacts = await service.read_subject(
        session, principal=principal, subject_id=subject_id
    )
    return subject_read(subject, consent_status, list(contacts))


@router.post(
    "/{subject_id}/family-contacts",
    status_code=status.HTTP_201_CREATED,
    response_model=FamilyContactRead,
    responses=NOT_FOUND,
)
async def add_family_contact(
    subject_id: UUID, body: FamilyContactCreate, session: DbSession, principal: CurrentPrincipal
) -> FamilyContactRead:
    contact = await service.add_family_contact(
        session, principal=principal, subject_id=subject_id, contact=body.model_dump()
    )
    return FamilyContactRead.model_validate(contact)


@router.get("/{subject_id}/fhir", responses=NOT_FOUND)
async def export_fhir(subject_id: UUID, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """c8: Patient (JP Core), RelatedPerson, Consent and CareTeam as a FHIR R4 collection Bundle."""
    return await service.fhir_export(session, principal=principal, subject_id=subject_id)


@router.post(
    "/{subject_id}/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentRead,
    responses=NOT_FOUND,
)
async def give_consent(
    subject_id: UUID, body: ConsentCreate, session: DbSession, principal: CurrentPrincipal
) -> ConsentRead:
    consent = await service.give_consent(
        session, principal=principal, subject_id=subject_id, **body.model_dump()
    )
    return consent_read(consent)


@router.get("/{subject_id}/consents", response_model=list[ConsentRead], responses=NOT_FOUND)
async def list_consents(
    subject_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> list[ConsentRead]:
    """Every consent on file, newest first: who consented, when, and who obtained it where (C2, C3)."""
    return [
        consent_read(c)
        for c in await service.consents_of(session, principal=principal, subject_id=subject_id)
    ]


@router.put(
    "/{subject_id}/consents/{consent_id}/form",
    response_model=ConsentRead,
    responses={
        **NOT_FOUND,
        409: {"description": "A form is already on file"},
        413: {"description": "Too large"},
        415: {"description": "Not a PDF, JPEG or PNG"},
    },
)
async def store_consent_form(
    subject_id: UUID,
    consent_id: UUID,
    form: Annotated[UploadFile, File(description="The scanned consent form: PDF, JPEG or PNG")],
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
) -> ConsentRead:
    settings = request.app.state.settings
    consent = await service.store_consent_form(
        session,
        principal=principal,
        subject_id=subject_id,
        consent_id=consent_id,
        form=form.file,
        size=form.size,
        max_bytes=settings.consent_form_max_bytes,
        store=request.app.state.object_store,
    )
    return consent_read(consent)


@router.get("/{subject_id}/consents/{consent_id}/form", response_model=ConsentFormLink, responses=NOT_FOUND)
async def consent_form_link(
    subject_id: UUID, consent_id: UUID, request: Request, session: DbSession, principal: CurrentPrincipal
) -> ConsentFormLink:
    """A short-lived link to the scanned form; each one handed out is audited."""
    key = await service.consent_form_key(
        session, principal=principal, subject_id=subject_id, consent_id=consent_id
    )
    url = await request.app.state.object_store.presigned_get(key, expires=FORM_LINK_TTL)
    return ConsentFormLink(url=url, expires_in=int(FORM_LINK_TTL.total_seconds()))


@router.get("/{subject_id}/care-team", response_model=list[CareTeamMemberRead], responses=NOT_FOUND)
async def list_care_team(
    subject_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> list[CareTeamMemberRead]:
    members = await service.care_team(session, principal=principal, subject_id=subject_id)
    return [CareTeamMemberRead.model_validate(m) for m in members]


@router.post(
    "/{subject_id}/care-team",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationRead,
    responses=NOT_FOUND,
)
async def invite_care_team_member(
    subject_id: UUID, body: CareTeamMemberCreate, session: DbSession, principal: CurrentPrincipal
) -> InvitationRead:
    """C6: invite a user; they join (and see the subject) only once they accept the invitation."""
    invitation = await service.invite_member(
        session,
        principal=principal,
        subject_id=subject_id,
        user_id=body.user_id,
        facility_id=body.facility_id,
    )
    return InvitationRead.model_validate(invitation)


@router.delete(
    "/{subject_id}/care-team/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND
)
async def remove_care_team_member(
    subject_id: UUID, user_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> None:
    """Leave the team (your own user id) or remove another member."""
    await service.remove_member(session, principal=principal, subject_id=subject_id, user_id=user_id)


@router.post(
    "/{subject_id}/withdrawals",
    status_code=status.HTTP_201_CREATED,
    response_model=WithdrawalRead,
    responses=NOT_FOUND,
)
async def withdraw_consent(
    subject_id: UUID,
    body: WithdrawalCreate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
) -> WithdrawalRead:
    settings = request.app.state.settings
    mode = await service.withdrawal_mode(session, tenant=principal.tenant, default=settings.withdrawal_mode)
    return await service.withdraw_consent(
        session,
        principal=principal,
        subject_id=subject_id,
        participants=tuple(settings.cascade_participants),
        mode=mode,
        **body.model_dump(),
    )


@router.get("/{subject_id}/withdrawals", response_model=list[WithdrawalRead], responses=NOT_FOUND)
async def list_withdrawals(
    subject_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> list[WithdrawalRead]:
    """The subject's page: each withdrawal's cascade per service, with start and completion times."""
    return await service.subject_withdrawals(session, principal=principal, subject_id=subject_id)


cascades = APIRouter(prefix="/cascades", tags=["cascades"])


@cascades.get("/incomplete", response_model=list[WithdrawalRead])
async def incomplete_cascades(session: DbSession, principal: CurrentPrincipal) -> list[WithdrawalRead]:
    """For the operator: withdrawal cascades some service has not yet reported done."""
    return await service.incomplete_cascades(session, principal=principal)
