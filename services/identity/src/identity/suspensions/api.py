"""Suspensions of users and facilities, the contractor's emergency reports and reinstatement (I8, I9)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from identity.suspensions import service
from identity.suspensions.schemas import SuspensionCreate, SuspensionRead

router = APIRouter(prefix="/suspensions", tags=["suspensions"])


@router.post("", status_code=201, response_model=SuspensionRead)
async def suspend(body: SuspensionCreate, principal: CurrentPrincipal, session: DbSession) -> SuspensionRead:
    suspension = await service.suspend(
        session,
        principal=principal,
        target_kind=body.target_kind,
        target_id=body.target_id,
        reason=body.reason,
        emergency=body.emergency,
    )
    return SuspensionRead.model_validate(suspension)


@router.get("", response_model=list[SuspensionRead])
async def list_suspensions(
    principal: CurrentPrincipal, session: DbSession, open_only: bool = False
) -> list[SuspensionRead]:
    rows = await service.list_suspensions(session, principal=principal, open_only=open_only)
    return [SuspensionRead.model_validate(r) for r in rows]


@router.post(
    "/{suspension_id}/acknowledgement",
    response_model=SuspensionRead,
    summary="The operator acknowledges a contractor's emergency suspension report",
)
async def acknowledge(suspension_id: UUID, principal: CurrentPrincipal, session: DbSession) -> SuspensionRead:
    suspension = await service.acknowledge_suspension(
        session, principal=principal, suspension_id=suspension_id
    )
    return SuspensionRead.model_validate(suspension)


@router.post("/{suspension_id}/lifting", response_model=SuspensionRead, summary="Reinstate")
async def lift(suspension_id: UUID, principal: CurrentPrincipal, session: DbSession) -> SuspensionRead:
    suspension = await service.lift_suspension(session, principal=principal, suspension_id=suspension_id)
    return SuspensionRead.model_validate(suspension)
