"""Incident report use cases: file, read, list, and pass a report along its steps. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal
from yui_common.problems import conflict, not_found

from identity import audit_trail
from identity.auth import CONTRACTOR, FACILITY_ADMIN, OPERATOR, require_role
from identity.incidents import repository
from identity.incidents.schemas import IncidentReportCreate
from identity.models import IncidentReport
from identity.problems import forbidden


def _now() -> datetime:
    return datetime.now(UTC)


def _note(principal: Principal, step: str, note: str) -> dict[str, str]:
    return {"at": _now().isoformat(), "by": str(principal.user_id), "step": step, "note": note}


def _may_see_report(principal: Principal, report: IncidentReport) -> bool:
    if report.tenant != principal.tenant:
        return False
    if report.reporter_id == principal.user_id:
        return True
    if principal.has_role(FACILITY_ADMIN) and report.facility_id == principal.facility_id:
        return True
    if principal.has_role(OPERATOR) and report.escalated_at is not None:
        return True
    return principal.has_role(CONTRACTOR) and report.forwarded_at is not None


async def file_incident_report(
    session: AsyncSession, *, principal: Principal, data: IncidentReportCreate
) -> IncidentReport:
    if principal.facility_id is None:
        raise forbidden("Reports are filed by a facility's users.")
    report = IncidentReport(
        tenant=principal.tenant,
        facility_id=principal.facility_id,
        reporter_id=principal.user_id,
        category=data.category,
        title=data.title,
        body=data.body,
        status="submitted",
        created_at=_now(),
        notes=[],
    )
    session.add(report)
    await session.flush()
    await audit_trail.record(session, "incident.filed", by=principal, on=report)
    return report


async def read_incident_report(
    session: AsyncSession, *, principal: Principal, report_id: UUID
) -> IncidentReport:
    report = await get_incident_report(session, principal=principal, report_id=report_id)
    await audit_trail.record(session, "incident.read", by=principal, on=report)
    return report


async def list_incident_reports(session: AsyncSession, *, principal: Principal) -> list[IncidentReport]:
    if principal.has_role(OPERATOR):
        rows = await repository.incident_reports(
            session, tenant=principal.tenant, statuses=("with_operator", "with_contractor", "resolved")
        )
    elif principal.has_role(CONTRACTOR):
        rows = await repository.incident_reports(session, tenant=principal.tenant)
    elif principal.has_role(FACILITY_ADMIN):
        rows = await repository.incident_reports(
            session, tenant=principal.tenant, facility_id=principal.facility_id
        )
    else:
        rows = await repository.incident_reports(
            session, tenant=principal.tenant, reporter_id=principal.user_id
        )
    return [r for r in rows if _may_see_report(principal, r)]


async def get_incident_report(
    session: AsyncSession, *, principal: Principal, report_id: UUID
) -> IncidentReport:
    report = await session.get(IncidentReport, report_id, with_for_update=True)
    if report is None or not _may_see_report(principal, report):
        raise not_found("incident report")
    return report


async def advance_incident_report(
    session: AsyncSession, *, principal: Principal, report_id: UUID, step: str, note: str
) -> IncidentReport:
    """submitted -(administrator escalates)-> with_operator -(operator forwards)-> with_contractor."""
    report = await get_incident_report(session, principal=principal, report_id=report_id)
    now = _now()
    if step == "escalate":
        if not (principal.has_role(FACILITY_ADMIN) and report.facility_id == principal.facility_id):
            raise forbidden("The facility's administrator passes a report to the operator.")
        if report.status != "submitted":
            raise conflict(f"The report is {report.status}.")
        report.status, report.escalated_at = "with_operator", now
    elif step == "forward":
        require_role(principal, OPERATOR)
        if report.status != "with_operator":
            raise conflict(f"The report is {report.status}.")
        report.status, report.forwarded_at = "with_contractor", now
    elif step == "resolve":
        require_role(principal, OPERATOR, CONTRACTOR)
        if report.status not in ("with_operator", "with_contractor"):
            raise conflict(f"The report is {report.status}.")
        report.status, report.resolved_at = "resolved", now
    else:
        raise not_found("step")
    report.notes = [*report.notes, _note(principal, step, note)]
    await audit_trail.record(session, f"incident.{step}", by=principal, on=report)
    return report
