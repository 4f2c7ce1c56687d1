"""Queries of subjects, their family contacts, the network's municipalities and residence exceptions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from consent.models import CareTeamMember, FamilyContact, NetworkMunicipality, ResidenceException, Subject


async def subject_visible_to(
    session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID
) -> Subject | None:
    """The subject, only when the user is on its care team in the same network."""
    stmt = (
        select(Subject)
        .join(CareTeamMember, CareTeamMember.subject_id == Subject.id)
        .where(Subject.id == subject_id, Subject.tenant == tenant, CareTeamMember.user_id == user_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def subject_in_network(session: AsyncSession, *, tenant: str, subject_id: UUID) -> Subject | None:
    stmt = select(Subject).where(Subject.id == subject_id, Subject.tenant == tenant)
    return (await session.execute(stmt)).scalar_one_or_none()


async def network_municipality_codes(session: AsyncSession, *, tenant: str) -> set[str]:
    stmt = select(NetworkMunicipality.municipality_code).where(NetworkMunicipality.tenant == tenant)
    return set((await session.execute(stmt)).scalars().all())


async def network_municipalities(session: AsyncSession, *, tenant: str) -> Sequence[NetworkMunicipality]:
    stmt = (
        select(NetworkMunicipality)
        .where(NetworkMunicipality.tenant == tenant)
        .order_by(NetworkMunicipality.municipality_code)
    )
    return (await session.execute(stmt)).scalars().all()


async def residence_exception_for_update(
    session: AsyncSession, *, tenant: str, exception_id: UUID
) -> ResidenceException | None:
    stmt = (
        select(ResidenceException)
        .where(ResidenceException.id == exception_id, ResidenceException.tenant == tenant)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def likely_duplicates(
    session: AsyncSession, *, tenant: str, name_kana_folded: str, birth_date: date, user_id: UUID
) -> Sequence[tuple[Subject, bool]]:
    """The network's subjects with this folded kana and birth date, and whether the user is on their team."""
    on_team = (
        select(CareTeamMember.user_id)
        .where(CareTeamMember.subject_id == Subject.id, CareTeamMember.user_id == user_id)
        .exists()
    )
    stmt = (
        select(Subject, on_team)
        .where(
            Subject.tenant == tenant,
            Subject.name_kana_folded == name_kana_folded,
            Subject.birth_date == birth_date,
        )
        .order_by(Subject.registered_at)
        .limit(20)
    )
    return [(row[0], bool(row[1])) for row in (await session.execute(stmt)).all()]


async def search_visible_subjects(
    session: AsyncSession,
    *,
    tenant: str,
    user_id: UUID,
    kana_prefix: str | None,
    birth_date: date | None,
    limit: int,
    status: str | None = None,
) -> Sequence[Subject]:
    stmt = (
        select(Subject)
        .join(CareTeamMember, CareTeamMember.subject_id == Subject.id)
        .where(Subject.tenant == tenant, CareTeamMember.user_id == user_id)
    )
    if kana_prefix:
        escaped = kana_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Subject.name_kana_folded.like(escaped + "%", escape="\\"))
    if birth_date is not None:
        stmt = stmt.where(Subject.birth_date == birth_date)
    if status is not None:
        stmt = stmt.where(Subject.status == status)
    # The index's own order (tenant, kana, birth date): a broad prefix stops after ``limit`` rows.
    stmt = stmt.order_by(Subject.name_kana_folded, Subject.birth_date).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def family_contacts_of(session: AsyncSession, *, subject_id: UUID) -> Sequence[FamilyContact]:
    stmt = select(FamilyContact).where(FamilyContact.subject_id == subject_id).order_by(FamilyContact.id)
    return (await session.execute(stmt)).scalars().all()


def _escaped_like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def subjects_named_like(
    session: AsyncSession, *, tenant: str, name: str, kana_folded: str, limit: int
) -> Sequence[Subject]:
    """The network's subjects whose name or (folded) kana contains the text: the operators' audit search."""
    matches = [Subject.name.ilike(_escaped_like(name), escape="\\")]
    if kana_folded:
        matches.append(Subject.name_kana_folded.like(_escaped_like(kana_folded), escape="\\"))
    stmt = (
        select(Subject)
        .where(Subject.tenant == tenant, or_(*matches))
        .order_by(Subject.name_kana_folded, Subject.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def subjects_by_id(
    session: AsyncSession, *, tenant: str, subject_ids: Sequence[UUID]
) -> Sequence[Subject]:
    if not subject_ids:
        return []
    stmt = select(Subject).where(Subject.tenant == tenant, Subject.id.in_(set(subject_ids)))
    return (await session.execute(stmt)).scalars().all()


async def subjects_for_republishing(session: AsyncSession, *, tenant: str | None) -> Sequence[Subject]:
    """Every subject (of one network, or of all), in a stable order: the backfill announces each again."""
    stmt = select(Subject).order_by(Subject.tenant, Subject.id)
    if tenant is not None:
        stmt = stmt.where(Subject.tenant == tenant)
    return (await session.execute(stmt)).scalars().all()
