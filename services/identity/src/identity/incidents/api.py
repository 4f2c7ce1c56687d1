"""Incident reports: a user files, the administrator escalates, the operator forwards, then resolved (I10)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from identity.incidents import service
from identity.incidents.schemas import IncidentNote, IncidentReportCreate, IncidentReportRead

router = APIRouter(prefix="/incident-reports", tags=["incident reports"])
STEPS = {"escalation": "escalate", "forwarding": "forward", "resolution": "resolve"}


@router.post("", status_code=201, response_model=IncidentReportRead)
async def file_report(
    body: IncidentReportCreate, principal: CurrentPrincipal, session: DbSession
) -> IncidentReportRead:
    return IncidentReportRead.model_validate(
        await service.file_incident_report(session, principal=principal, data=body)
    )


@router.get("", response_model=list[IncidentReportRead])
async def list_reports(principal: CurrentPrincipal, session: DbSession) -> list[IncidentReportRead]:
    return [
        IncidentReportRead.model_validate(r)
        for r in await service.list_incident_reports(session, principal=principal)
    ]


@router.get("/{report_id}", response_model=IncidentReportRead)
async def get_report(report_id: UUID, principal: CurrentPrincipal, session: DbSession) -> IncidentReportRead:
    report = await service.read_incident_report(session, principal=principal, report_id=report_id)
    return IncidentReportRead.model_validate(report)


@router.post("/{report_id}/{step}", response_model=IncidentReportRead)
async def advance(
    report_id: UUID,
    step: Literal["escalation", "forwarding", "resolution"],
    body: IncidentNote,
    principal: CurrentPrincipal,
    session: DbSession,
) -> IncidentReportRead:
    report = await service.advance_incident_report(
        session, principal=principal, report_id=report_id, step=STEPS[step], note=body.note
    )
    return IncidentReportRead.model_validate(report)
