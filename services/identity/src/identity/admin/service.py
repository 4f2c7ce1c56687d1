"""What the admin home page counts: applications to decide, reports to acknowledge, open incidents."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal

from identity.facilities import repository as facilities
from identity.incidents.service import list_incident_reports
from identity.suspensions import repository as suspensions


@dataclass(frozen=True)
class AdminOverview:
    """What the admin home page counts."""

    applications: int
    unacknowledged_reports: int
    open_incidents: int


async def admin_overview(session: AsyncSession, *, principal: Principal) -> AdminOverview:
    applications = await facilities.facilities(session, tenant=principal.tenant, status="applied")
    reports = await suspensions.suspensions(session, tenant=principal.tenant)
    incidents = await list_incident_reports(session, principal=principal)
    return AdminOverview(
        applications=len(applications),
        unacknowledged_reports=sum(s.needs_acknowledgement and s.acknowledged_at is None for s in reports),
        open_incidents=sum(i.status != "resolved" for i in incidents),
    )
