"""Facilities: the public application, the operator's review queue, profile changes, withdrawal, abolition."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from identity.auth import NetworkManagerPrincipal, OperatorPrincipal
from identity.facilities import service
from identity.facilities.schemas import (
    Approval,
    Decision,
    FacilityApplication,
    FacilityClosed,
    FacilityRead,
    FacilityUpdate,
)
from identity.models import Facility
from identity.revocations.api import commit_and_await_revocations

router = APIRouter(tags=["facilities"])


@router.post(
    "/facility-applications",
    status_code=202,
    response_model=FacilityRead,
    summary="Apply to join the network (public: the portal posts its form here)",
)
async def apply(body: FacilityApplication, session: DbSession) -> FacilityRead:
    return FacilityRead.model_validate(await service.apply_for_facility(session, application=body))


@router.get(
    "/facility-applications", response_model=list[FacilityRead], summary="The operator's review queue"
)
async def review_queue(principal: NetworkManagerPrincipal, session: DbSession) -> list[FacilityRead]:
    rows = await service.list_facilities(session, principal=principal, status="applied")
    return [FacilityRead.model_validate(r) for r in rows]


@router.post("/facility-applications/{facility_id}/approval", response_model=Approval)
async def approve(facility_id: UUID, principal: OperatorPrincipal, session: DbSession) -> Approval:
    return await service.approve_application(session, principal=principal, facility_id=facility_id)


@router.post("/facility-applications/{facility_id}/rejection", response_model=FacilityRead)
async def reject(
    facility_id: UUID, body: Decision, principal: OperatorPrincipal, session: DbSession
) -> FacilityRead:
    facility = await service.reject_application(
        session, principal=principal, facility_id=facility_id, reason=body.reason
    )
    return FacilityRead.model_validate(facility)


@router.get("/facilities", response_model=list[FacilityRead])
async def list_facilities(
    principal: CurrentPrincipal,
    session: DbSession,
    status: Literal["applied", "active", "rejected", "suspended", "withdrawn", "abolished"] | None = None,
) -> list[FacilityRead]:
    rows = await service.list_facilities(session, principal=principal, status=status)
    return [FacilityRead.model_validate(r) for r in rows]


@router.get("/facilities/{facility_id}", response_model=FacilityRead)
async def get_facility(facility_id: UUID, principal: CurrentPrincipal, session: DbSession) -> FacilityRead:
    return FacilityRead.model_validate(
        await service.get_facility(session, principal=principal, facility_id=facility_id)
    )


@router.patch("/facilities/{facility_id}", response_model=FacilityRead)
async def update_facility(
    facility_id: UUID, body: FacilityUpdate, principal: CurrentPrincipal, session: DbSession
) -> FacilityRead:
    facility = await service.update_facility(
        session, principal=principal, facility_id=facility_id, changes=body
    )
    return FacilityRead.model_validate(facility)


CLOSING_ANSWERS: dict[int | str, dict[str, Any]] = {
    202: {"model": FacilityClosed, "description": "Closed; some services do not refuse its users' tokens yet"}
}


async def _closed(
    facility: Facility, request: Request, session: AsyncSession, response: Response
) -> FacilityClosed:
    closed = FacilityClosed.model_validate(facility)
    return closed.model_copy(
        update={"propagation": await commit_and_await_revocations(request, session, response)}
    )


@router.post(
    "/facilities/{facility_id}/withdrawal",
    response_model=FacilityClosed,
    responses=CLOSING_ANSWERS,
    summary="The facility's administrator withdraws it from the network",
)
async def withdraw(
    facility_id: UUID, principal: CurrentPrincipal, session: DbSession, request: Request, response: Response
) -> FacilityClosed:
    facility = await service.withdraw_facility(session, principal=principal, facility_id=facility_id)
    return await _closed(facility, request, session, response)


@router.post(
    "/facilities/{facility_id}/abolition",
    response_model=FacilityClosed,
    responses=CLOSING_ANSWERS,
    summary="The operator ends a facility's registration",
)
async def abolish(
    facility_id: UUID,
    body: Decision,
    principal: OperatorPrincipal,
    session: DbSession,
    request: Request,
    response: Response,
) -> FacilityClosed:
    facility = await service.abolish_facility(
        session, principal=principal, facility_id=facility_id, reason=body.reason
    )
    return await _closed(facility, request, session, response)
