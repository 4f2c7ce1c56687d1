"""Subjects (register, search, read), their family contacts and FHIR export, and the operator's residence
exceptions (all 404 to outsiders)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from consent.dependencies import SUBJECT_NOT_FOUND, AuditOperatorPrincipal, OperatorPrincipal
from consent.models import FamilyContact, Subject
from consent.subjects import service
from consent.subjects.changes import SUPPORT_STOPPED
from consent.subjects.schemas import (
    FamilyContactCreate,
    FamilyContactRead,
    MunicipalityRead,
    ResidenceExceptionCreate,
    ResidenceExceptionRead,
    SubjectCreate,
    SubjectLookupItem,
    SubjectLookupRead,
    SubjectNameItem,
    SubjectNamesRead,
    SubjectNamesRequest,
    SubjectRead,
    SubjectSummary,
    SubjectUpdate,
)

router = APIRouter(prefix="/subjects", tags=["subjects"])


def subject_read(subject: Subject, consent_status: str, contacts: list[FamilyContact]) -> SubjectRead:
    if subject.status == SUPPORT_STOPPED:
        # Support stopped: the name, kana and status only; no contact detail ever leaves again (issue 10).
        return SubjectRead(
            id=subject.id,
            name=subject.name,
            name_kana=subject.name_kana,
            status=SUPPORT_STOPPED,
            birth_date=None,
            municipality_code=None,
            registered_at=subject.registered_at,
            consent_status=consent_status,  # type: ignore[arg-type]
        )
    read = SubjectRead.model_validate(subject)
    return read.model_copy(
        update={
            "consent_status": consent_status,
            "family_contacts": [FamilyContactRead.model_validate(c) for c in contacts],
        }
    )


def subject_summary(subject: Subject) -> SubjectSummary:
    summary = SubjectSummary.model_validate(subject)
    return summary.model_copy(update={"birth_date": None}) if subject.status == SUPPORT_STOPPED else summary


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
    subject_status: Annotated[
        Literal["active", "support_stopped", "all"],
        Query(alias="status", description="The working list is the active subjects; the others on request"),
    ] = "active",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[SubjectSummary]:
    """The caller's own subjects (care team), by kana prefix typed any way (full/half width, hiragana).
    Subjects whose support stopped are listed only with ``status=support_stopped`` or ``all``, each marked."""
    found = await service.search_subjects(
        session,
        principal=principal,
        kana=kana,
        birth_date=birth_date,
        status=None if subject_status == "all" else subject_status,
        limit=limit,
    )
    return [subject_summary(s) for s in found]


OPERATORS_ONLY: dict[int | str, dict[str, Any]] = {403: {"description": "The network's operator only"}}


# Declared before /subjects/{subject_id}, which would otherwise take "lookup" for an id.
@router.get("/lookup", response_model=SubjectLookupRead, responses=OPERATORS_ONLY)
async def lookup_subjects(
    session: DbSession,
    principal: AuditOperatorPrincipal,
    name: Annotated[str, Query(min_length=1, max_length=200, description="Part of the name or kana")],
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> SubjectLookupRead:
    """For the operator's audit search: the network's subjects whose name or kana contains ``name``."""
    found = await service.lookup_subjects_for_operator(session, principal=principal, name=name, limit=limit)
    return SubjectLookupRead(items=[SubjectLookupItem.model_validate(s) for s in found])


@router.post("/names", response_model=SubjectNamesRead, responses=OPERATORS_ONLY)
async def subject_names(
    body: SubjectNamesRequest, session: DbSession, principal: AuditOperatorPrincipal
) -> SubjectNamesRead:
    """For the operator's audit results: the names of these subjects (ids of other networks are left out)."""
    found = await service.subject_names_for_operator(session, principal=principal, subject_ids=body.ids)
    return SubjectNamesRead(items=[SubjectNameItem.model_validate(s) for s in found])


@router.get("/{subject_id}", response_model=SubjectRead, responses=SUBJECT_NOT_FOUND)
async def read_subject(subject_id: UUID, session: DbSession, principal: CurrentPrincipal) -> SubjectRead:
    subject, consent_status, contacts = await service.read_subject(
        session, principal=principal, subject_id=subject_id
    )
    return subject_read(subject, consent_status, list(contacts))


@router.patch(
    "/{subject_id}",
    response_model=SubjectRead,
    responses={
        **SUBJECT_NOT_FOUND,
        409: {"description": "Support stopped: the subject can no longer be edited"},
    },
)
async def update_subject(
    subject_id: UUID, body: SubjectUpdate, session: DbSession, principal: CurrentPrincipal
) -> SubjectRead:
    """Correct the name, kana or contact details; a new name or kana is announced (consent.subject-changed.v1)."""
    subject, consent_status, contacts = await service.update_subject(
        session, principal=principal, subject_id=subject_id, changes=body.model_dump(exclude_unset=True)
    )
    return subject_read(subject, consent_status, list(contacts))


@router.post(
    "/{subject_id}/family-contacts",
    status_code=status.HTTP_201_CREATED,
    response_model=FamilyContactRead,
    responses=SUBJECT_NOT_FOUND,
)
async def add_family_contact(
    subject_id: UUID, body: FamilyContactCreate, session: DbSession, principal: CurrentPrincipal
) -> FamilyContactRead:
    contact = await service.add_family_contact(
        session, principal=principal, subject_id=subject_id, contact=body.model_dump()
    )
    return FamilyContactRead.model_validate(contact)


@router.get("/{subject_id}/fhir", responses=SUBJECT_NOT_FOUND)
async def export_fhir(subject_id: UUID, session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """c8: Patient (JP Core), RelatedPerson, Consent and CareTeam as a FHIR R4 collection Bundle."""
    return await service.fhir_export(session, principal=principal, subject_id=subject_id)


municipalities = APIRouter(prefix="/municipalities", tags=["subjects"])


@municipalities.get("", response_model=list[MunicipalityRead])
async def network_municipalities(session: DbSession, principal: CurrentPrincipal) -> list[MunicipalityRead]:
    """The municipalities whose residents the caller's network registers (C1), by name: the registration
    form defaults to the only one, or offers them to choose from. Empty when consent was not told them."""
    found = await service.network_municipalities(session, principal=principal)
    return [MunicipalityRead.model_validate(m) for m in found]


residence_exceptions = APIRouter(prefix="/residence-exceptions", tags=["residence exceptions"])


@residence_exceptions.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ResidenceExceptionRead,
    responses={403: {"description": "Operators only"}},
)
async def approve_residence_exception(
    body: ResidenceExceptionCreate, session: DbSession, principal: OperatorPrincipal
) -> ResidenceExceptionRead:
    """The operator allows one person living outside the network's municipalities to be registered (C1)."""
    exception = await service.approve_residence_exception(session, principal=principal, **body.model_dump())
    return ResidenceExceptionRead.model_validate(exception)
