"""JSON API of the maintenance switch (the operator's; the contractor's emergency switch is the CLI) and of
inquiries for the operator."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession
from yui_common.problems import Problem

from portal.operations import maintenance
from portal.public import inquiries

router = APIRouter(tags=["operations"])


class MaintenanceSwitchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool
    reason: str = Field(min_length=1, max_length=2000)
    expected_end: AwareDatetime | None = None


class MaintenanceRead(BaseModel):
    active: bool
    scope: str
    reason: str
    since: datetime | None
    expected_end: datetime | None


def _switching_role(principal: CurrentPrincipal) -> str:
    for role in (maintenance.OPERATOR, maintenance.CONTRACTOR):
        if principal.has_role(role):
            return role
    raise Problem(403, "forbidden", "Forbidden", "Only the operator or the contractor switches maintenance.")


@router.get("/api/maintenance", response_model=MaintenanceRead, summary="Is the network under maintenance")
async def get_maintenance(principal: CurrentPrincipal, session: DbSession) -> MaintenanceRead:
    state = await maintenance.state_for(session, principal.tenant)
    return MaintenanceRead(**state.__dict__)


@router.post("/api/operator/maintenance", response_model=MaintenanceRead)
async def switch_maintenance(
    body: MaintenanceSwitchRequest, principal: CurrentPrincipal, session: DbSession
) -> MaintenanceRead:
    await maintenance.switch(
        session,
        scope=principal.tenant,
        active=body.active,
        reason=body.reason,
        actor_id=str(principal.user_id),
        actor_role=_switching_role(principal),
        event_tenant=principal.tenant,
        expected_end=body.expected_end,
    )
    state = await maintenance.state_for(session, principal.tenant)
    return MaintenanceRead(**state.__dict__)


@router.get("/api/operator/inquiries", response_model=list[inquiries.InquiryRead])
async def list_inquiries(principal: CurrentPrincipal, session: DbSession) -> list[inquiries.InquiryRead]:
    rows = await inquiries.list_for_operator(session, actor=principal)
    return [inquiries.InquiryRead.model_validate(r) for r in rows]
