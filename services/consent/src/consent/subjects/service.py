"""Subjects: registration (the residence check, C1; likely duplicates, c9), reading and searching them, family
contacts, residence exceptions and the FHIR export. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import audit
from yui_common.auth import Principal
from yui_common.problems import Problem

from consent.access import audit_subject, visible_subject
from consent.care_teams import repository as care_team_repository
from consent.care_teams.service import enroll_member
from consent.consents import repository as consent_repository
from consent.models import FamilyContact, NetworkMunicipality, ResidenceException, Subject
from consent.subjects import fhir, repository
from consent.subjects.changes import ACTIVE, SUPPORT_STOPPED, announce_subject_changed
from consent.subjects.kana import fold_kana
from consent.subjects.schemas import DuplicateCandidate


async def _check_residence(
    session: AsyncSession,
    *,
    principal: Principal,
    municipality_code: str,
    name_kana_folded: str,
    birth_date: date | None,
    residence_exception_id: UUID | None,
) -> UUID | None:
    """C1: residents of the network's municipalities unless the operator approved an exception."""
    codes = await repository.network_municipality_codes(session, tenant=principal.tenant)
    # A network whose municipalities consent was not told yet cannot be checked (identity owns networks).
    if not codes or municipality_code in codes:
        return None
    if residence_exception_id is not None:
        exception = await repository.residence_exception_for_update(
            session, tenant=principal.tenant, exception_id=residence_exception_id
        )
        if (
            exception is not None
            and exception.used_at is None
            and exception.municipality_code == municipality_code
            and exception.name_kana_folded == name_kana_folded
            and exception.birth_date == birth_date
        ):
            exception.used_at = datetime.now(UTC)
            return exception.id
    raise Problem(
        422,
        "outside-network",
        "Not a resident of this network",
        "The municipality is not one of this network's; the operator can approve an exception.",
        municipalities=sorted(codes),
    )


async def register_subject(
    session: AsyncSession,
    *,
    principal: Principal,
    name: str,
    name_kana: str,
    birth_date: date | None,
    municipality_code: str,
    sex: str | None = None,
    postal_code: str | None = None,
    address: str | None = None,
    phone: str | None = None,
    family_contacts: Sequence[dict[str, Any]] = (),
    residence_exception_id: UUID | None = None,
    refuse_likely_duplicates: bool = False,
) -> Subject:
    """Register a subject (C1, c9); whoever registers joins the care team.

    ``refuse_likely_duplicates``: answer 409 with the candidates when the network already has a subject
    with the same folded kana name and birth date (the API does, unless the user confirmed they saw them).
    """
    folded = fold_kana(name_kana)
    exception_id = await _check_residence(
        session,
        principal=principal,
        municipality_code=municipality_code,
        name_kana_folded=folded,
        birth_date=birth_date,
        residence_exception_id=residence_exception_id,
    )
    if refuse_likely_duplicates and birth_date is not None:
        candidates = await repository.likely_duplicates(
            session,
            tenant=principal.tenant,
            name_kana_folded=folded,
            birth_date=birth_date,
            user_id=principal.user_id,
        )
        if candidates:
            raise Problem(
                409,
                "likely-duplicate",
                "Likely duplicate",
                "This network already has a subject with the same kana name and birth date. Join that "
                "subject's care team instead, or confirm_not_duplicate if it is someone else.",
                candidates=[
                    DuplicateCandidate(
                        id=s.id,
                        name_kana=s.name_kana,
                        birth_date=s.birth_date,
                        registered_at=s.registered_at,
                        on_my_team=mine,
                    ).model_dump(mode="json")
                    for s, mine in candidates
                ],
            )
    subject = Subject(
        id=uuid7(),
        tenant=principal.tenant,
        name=name,
        name_kana=name_kana,
        name_kana_folded=folded,
        birth_date=birth_date,
        sex=sex,
        municipality_code=municipality_code,
        postal_code=postal_code,
        address=address,
        phone=phone,
        residence_network=principal.tenant,
        residence_exception_id=exception_id,
        registered_by=principal.user_id,
        registered_at=datetime.now(UTC),
        status=ACTIVE,
        version=1,
        lead_user_id=principal.user_id,
    )
    session.add(subject)
    await session.flush()
    await announce_subject_changed(session, subject, first=True)
    for contact in family_contacts:
        session.add(FamilyContact(id=uuid7(), subject_id=subject.id, **contact))
    await enroll_member(
        session,
        principal=principal,
        subject=subject,
        user_id=principal.user_id,
        facility_id=principal.facility_id,
    )
    await audit_subject(
        session,
        principal,
        "subject.register",
        subject.id,
        **({"residence_exception": str(exception_id)} if exception_id else {}),
    )
    return subject


async def register_subject_with_contacts(
    session: AsyncSession, *, principal: Principal, **fields: Any
) -> tuple[Subject, Sequence[FamilyContact]]:
    """``register_subject``, answered with the family contacts as stored (what the API returns)."""
    subject = await register_subject(session, principal=principal, **fields)
    return subject, await repository.family_contacts_of(session, subject_id=subject.id)


async def approve_residence_exception(
    session: AsyncSession,
    *,
    principal: Principal,
    municipality_code: str,
    name_kana: str,
    birth_date: date | None,
    reason: str,
) -> ResidenceException:
    """C1: the operator allows one person from outside the network's municipalities to be registered."""
    exception = ResidenceException(
        id=uuid7(),
        tenant=principal.tenant,
        municipality_code=municipality_code,
        name_kana_folded=fold_kana(name_kana),
        birth_date=birth_date,
        reason=reason,
        approved_by=principal.user_id,
        approved_at=datetime.now(UTC),
    )
    session.add(exception)
    await session.flush()
    await audit.record_by(
        session,
        principal,
        action="residence_exception.approve",
        target=str(exception.id),
        detail={"municipality_code": municipality_code},
    )
    return exception


async def read_subject(
    session: AsyncSession, *, principal: Principal, subject_id: UUID
) -> tuple[Subject, str, Sequence[FamilyContact]]:
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    latest = await consent_repository.latest_consent(session, subject_id=subject.id)
    contacts = await _contacts_shown(session, subject)
    await audit_subject(session, principal, "subject.read", subject.id)
    return subject, latest.status if latest else "none", contacts


async def _contacts_shown(session: AsyncSession, subject: Subject) -> Sequence[FamilyContact]:
    # Support stopped: family contacts are contact details too, never read out again.
    if subject.status == SUPPORT_STOPPED:
        return []
    return await repository.family_contacts_of(session, subject_id=subject.id)


def _support_stopped() -> Problem:
    return Problem(
        409,
        "support-stopped",
        "Support stopped",
        "Consent was withdrawn: the subject can no longer be edited (支援停止).",
    )


async def update_subject(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, changes: dict[str, Any]
) -> tuple[Subject, str, Sequence[FamilyContact]]:
    """A member corrects the name, kana or contact details; a changed name or kana is announced to the services
    that show it. A subject whose support stopped is not edited any more."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    if subject.status == SUPPORT_STOPPED:
        raise _support_stopped()
    changed = sorted(k for k, v in changes.items() if getattr(subject, k) != v)
    for field in changed:
        setattr(subject, field, changes[field])
    if "name_kana" in changed:
        subject.name_kana_folded = fold_kana(subject.name_kana)
    if {"name", "name_kana"} & set(changed):
        await announce_subject_changed(session, subject)
    await audit_subject(session, principal, "subject.update", subject.id, fields=changed)
    latest = await consent_repository.latest_consent(session, subject_id=subject.id)
    contacts = await repository.family_contacts_of(session, subject_id=subject.id)
    return subject, latest.status if latest else "none", contacts


async def search_subjects(
    session: AsyncSession,
    *,
    principal: Principal,
    kana: str | None,
    birth_date: date | None,
    limit: int,
    status: str | None = ACTIVE,
) -> Sequence[Subject]:
    """The caller's own subjects (care team only) by kana prefix, typed any way (c9 folding); by default only
    those still supported (the working list), ``status=None`` for all."""
    found = await repository.search_visible_subjects(
        session,
        tenant=principal.tenant,
        user_id=principal.user_id,
        kana_prefix=fold_kana(kana) if kana else None,
        birth_date=birth_date,
        status=status,
        limit=limit,
    )
    await audit.record_by(
        session,
        principal,
        action="subject.search",
        detail={"results": [str(s.id) for s in found]},
    )
    return found


async def add_family_contact(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, contact: dict[str, Any]
) -> FamilyContact:
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    if subject.status == SUPPORT_STOPPED:
        raise _support_stopped()
    added = FamilyContact(id=uuid7(), subject_id=subject.id, **contact)
    session.add(added)
    await session.flush()
    await audit_subject(session, principal, "family_contact.add", subject.id, contact=str(added.id))
    return added


async def fhir_export(session: AsyncSession, *, principal: Principal, subject_id: UUID) -> dict[str, Any]:
    """c8: the subject, family, consents and care team as one FHIR R4 Bundle."""
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    contacts = await _contacts_shown(session, subject)
    consents = await consent_repository.consents_of(session, subject_id=subject.id)
    members = await care_team_repository.care_team_of(session, subject_id=subject.id)
    await audit_subject(session, principal, "subject.export.fhir", subject.id)
    return fhir.subject_bundle(subject, contacts, consents, members)


async def lookup_subjects_for_operator(
    session: AsyncSession, *, principal: Principal, name: str, limit: int
) -> Sequence[Subject]:
    """The operators' audit search by patient name (issue 10): the network's subjects whose name or kana
    contains ``name``. Only names leave; the lookup itself is audited with what it found."""
    text = name.strip()
    found = await repository.subjects_named_like(
        session, tenant=principal.tenant, name=text, kana_folded=fold_kana(text), limit=limit
    )
    await audit.record_by(
        session,
        principal,
        action="subject.lookup",
        detail={"results": [str(s.id) for s in found]},
    )
    return found


async def subject_names_for_operator(
    session: AsyncSession, *, principal: Principal, subject_ids: Sequence[UUID]
) -> Sequence[Subject]:
    """The names of these subjects of the operator's own network (others' ids are simply absent), audited."""
    found = await repository.subjects_by_id(session, tenant=principal.tenant, subject_ids=subject_ids)
    await audit.record_by(
        session,
        principal,
        action="subject.names",
        detail={"subjects": [str(s.id) for s in found]},
    )
    return found


async def network_municipalities(
    session: AsyncSession, *, principal: Principal
) -> Sequence[NetworkMunicipality]:
    """The caller's network's municipalities (names of places, no one's data: not audited)."""
    return await repository.network_municipalities(session, tenant=principal.tenant)
