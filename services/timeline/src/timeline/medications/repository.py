"""Medications as the list, the duplicate check and the exports read them."""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from timeline.models import Medication


async def listed(session: AsyncSession, subject_id: UUID) -> list[Medication]:
    """The subject's medications, entered-in-error ones left out, by start date."""
    statement = (
        sa.select(Medication)
        .where(Medication.subject_id == subject_id, Medication.status == "active")
        .order_by(Medication.start_date, Medication.created_at)
    )
    return list((await session.execute(statement)).scalars().all())


async def one(session: AsyncSession, subject_id: UUID, medication_id: UUID) -> Medication | None:
    statement = sa.select(Medication).where(
        Medication.id == medication_id, Medication.subject_id == subject_id, Medication.status == "active"
    )
    return (await session.execute(statement.with_for_update())).scalar_one_or_none()


async def of_network(session: AsyncSession, tenant: str) -> list[Medication]:
    statement = sa.select(Medication).where(Medication.tenant == tenant, Medication.status == "active")
    return list((await session.execute(statement)).scalars().all())
