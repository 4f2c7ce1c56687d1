"""Suspensions of users and facilities, the contractor's emergency reports and reinstatement (I8, I9)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from identity.auth import NetworkManagerPrincipal, OperatorPrincipal
from identity.revocations.api import commit_and_await_revocations
from identity.suspensions import service
from identity.suspensions.schemas import SuspensionCreate, SuspensionCreated, SuspensionRead

router = APIRouter(prefix="/suspensions", tags=["suspensions"])


@router.post(
    "",
    status_code=201,
    response_model=SuspensionCreated,
    responses={202: {"model": SuspensionCreated, "description": "Suspended; some services not yet refusing"}},
)
async def suspend(
    body: SuspensionCreate,
    principal: CurrentPrincipal,
    session: DbSession,
    request: Request,
    response: Response,
) -> SuspensionCreated:
    suspension = await service.suspend(
        session,
        principal=principal,
        target_kind=body.target_kind,
        target_id=body.target_id,
        reason=body.reason,
        emergency=body.emergency,
    )
    created = SuspensionCreated.model_validate(suspension)
    return created.model_copy(
        update={"propagation": await commit_and_await_revocations(request, session, response)}
    )


@router.get("", response_model=list[SuspensionRead])
async def list_suspensions(
    principal: NetworkManagerPrincipal, session: DbSession, open_only: bool = False
) -> list[SuspensionRead]:
    rows = await service.list_suspensions(session, principal=principal, open_only=open_only)
    return [SuspensionRead.model_validate(r) for r in rows]


@router.post(
    "/{suspension_id}/acknowledgement",
    response_model=SuspensionRead,
    summary="The operator acknowledges a contractor's emergency suspension report",
)
async def acknowledge(
    suspension_id: UUID, principal: OperatorPrincipal, session: DbSession
) -> SuspensionRead:
    suspension = await service.acknowledge_suspension(
        session, principal=principal, suspension_id=suspension_id
    )
    return SuspensionRead.model_validate(suspension)


@router.post("/{suspension_id}/lifting", response_model=SuspensionRead, summary="Reinstate")
async def lift(suspension_id: UUID, principal: OperatorPrincipal, session: DbSession) -> SuspensionRead:
    suspension = await service.lift_suspension(session, principal=principal, suspension_id=suspension_id)
    return SuspensionRead.model_validate(suspension)
