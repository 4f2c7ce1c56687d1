"""Every query about incident reports. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import IncidentReport


async def incident_reports(
    session: AsyncSession,
    *,
    tenant: str,
    facility_id: UUID | None = None,
    reporter_id: UUID | None = None,
    statuses: tuple[str, ...] | None = None,
) -> Sequence[IncidentReport]:
    stmt = select(IncidentReport).where(IncidentReport.tenant == tenant)
    if facility_id:
        stmt = stmt.where(IncidentReport.facility_id == facility_id)
    if reporter_id:
        stmt = stmt.where(IncidentReport.reporter_id == reporter_id)
    if statuses:
        stmt = stmt.where(IncidentReport.status.in_(statuses))
    return (await session.execute(stmt.order_by(IncidentReport.created_at.desc()))).scalars().all()
