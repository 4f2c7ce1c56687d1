"""C5 exceptional access: requests, the requester's own, and the operator's list and decisions."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from consent.dependencies import OperatorPrincipal
from consent.exceptional_access import service
from consent.exceptional_access.schemas import (
    ExceptionalAccessCreate,
    ExceptionalAccessDecision,
    ExceptionalAccessRead,
)

router = APIRouter(prefix="/exceptional-access", tags=["exceptional access"])
OPERATORS_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"description": "Operators only"},
    404: {"description": "No such request in this network"},
}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ExceptionalAccessRead)
async def request_access(
    body: ExceptionalAccessCreate, session: DbSession, principal: CurrentPrincipal
) -> ExceptionalAccessRead:
    """Ask the operator for access to a subject without consent, naming the ground and the reason."""
    request = await service.request_exceptional_access(session, principal=principal, **body.model_dump())
    return ExceptionalAccessRead.model_validate(request)


@router.get("/mine", response_model=list[ExceptionalAccessRead])
async def my_requests(session: DbSession, principal: CurrentPrincipal) -> list[ExceptionalAccessRead]:
    return [
        ExceptionalAccessRead.model_validate(r)
        for r in await service.my_exceptional_access(session, principal=principal)
    ]


@router.get("", response_model=list[ExceptionalAccessRead], responses=OPERATORS_ONLY)
async def list_requests(
    session: DbSession,
    principal: OperatorPrincipal,
    status: Annotated[Literal["requested", "approved", "rejected", "expired"] | None, Query()] = None,
) -> list[ExceptionalAccessRead]:
    found = await service.exceptional_access_requests(session, principal=principal, status=status)
    return [ExceptionalAccessRead.model_validate(r) for r in found]


@router.post("/{grant_id}/approve", response_model=ExceptionalAccessRead, responses=OPERATORS_ONLY)
async def approve(
    grant_id: UUID, body: ExceptionalAccessDecision, session: DbSession, principal: OperatorPrincipal
) -> ExceptionalAccessRead:
    decided = await service.decide_exceptional_access(
        session, principal=principal, grant_id=grant_id, approve=True, note=body.note, hours=body.hours
    )
    return ExceptionalAccessRead.model_validate(decided)


@router.post("/{grant_id}/reject", response_model=ExceptionalAccessRead, responses=OPERATORS_ONLY)
async def reject(
    grant_id: UUID, body: ExceptionalAccessDecision, session: DbSession, principal: OperatorPrincipal
) -> ExceptionalAccessRead:
    decided = await service.decide_exceptional_access(
        session, principal=principal, grant_id=grant_id, approve=False, note=body.note, hours=body.hours
    )
    return ExceptionalAccessRead.model_validate(decided)
