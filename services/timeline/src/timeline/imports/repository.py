"""Imported letters and their offers as the imports' use cases read and write them; never commits."""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from timeline.models import HospitalImport, ImportOffer


async def imported(session: AsyncSession, *, subject_id: UUID, bundle_sha256: str) -> UUID | None:
    """The import of this very Bundle for the subject, if there is one."""
    statement = sa.select(HospitalImport.id).where(
        HospitalImport.subject_id == subject_id, HospitalImport.bundle_sha256 == bundle_sha256
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def imports_of(session: AsyncSession, *, tenant: str, subject_id: UUID) -> list[HospitalImport]:
    """The subject's letters, newest first, without their Bundles (the list needs none)."""
    statement = (
        sa.select(HospitalImport)
        .options(sa.orm.defer(HospitalImport.bundle))
        .where(HospitalImport.tenant == tenant, HospitalImport.subject_id == subject_id)
        .order_by(HospitalImport.created_at.desc(), HospitalImport.id.desc())
    )
    return list((await session.execute(statement)).scalars().all())


async def offer_counts(session: AsyncSession, import_ids: list[UUID]) -> dict[UUID, dict[str, int]]:
    """Per import, how many offers stand in each status."""
    if not import_ids:
        return {}
    statement = (
        sa.select(ImportOffer.import_id, ImportOffer.status, sa.func.count())
        .where(ImportOffer.import_id.in_(import_ids))
        .group_by(ImportOffer.import_id, ImportOffer.status)
    )
    counts: dict[UUID, dict[str, int]] = {}
    for import_id, status, count in (await session.execute(statement)).all():
        counts.setdefault(import_id, {})[status] = int(count)
    return counts


async def import_by_id(
    session: AsyncSession, *, tenant: str, subject_id: UUID, import_id: UUID
) -> HospitalImport | None:
    statement = sa.select(HospitalImport).where(
        HospitalImport.id == import_id,
        HospitalImport.tenant == tenant,
        HospitalImport.subject_id == subject_id,
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def offers_of(session: AsyncSession, import_id: UUID) -> list[ImportOffer]:
    statement = sa.select(ImportOffer).where(ImportOffer.import_id == import_id).order_by(ImportOffer.index)
    return list((await session.execute(statement)).scalars().all())


async def offer_for_decision(session: AsyncSession, *, import_id: UUID, index: int) -> ImportOffer | None:
    """The offer locked FOR UPDATE: two people deciding at once are decided one after the other."""
    statement = (
        sa.select(ImportOffer)
        .where(ImportOffer.import_id == import_id, ImportOffer.index == index)
        .with_for_update()
    )
    return (await session.execute(statement)).scalar_one_or_none()
