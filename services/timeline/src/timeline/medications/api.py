"""Medications' routes on a subject (the list with its duplicate warnings, add, end, remove) and the network's
drug master (search by staff, status, and the operator's import)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession
from yui_common.problems import Problem

from timeline.access.service import Board, is_operator, record_audit
from timeline.dependencies import Signer, subject_board
from timeline.medications import master, service
from timeline.medications.schemas import (
    DrugMasterStatus,
    DrugSearch,
    MedicationCreate,
    MedicationEnd,
    MedicationList,
    MedicationRead,
)

router = APIRouter(tags=["medications"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such subject or medication, or not on its care team"},
    410: {"description": "Support stopped: consent was withdrawn"},
}


@router.get("/subjects/{subject_id}/medications", response_model=MedicationList, responses=RESPONSES)
async def list_medications(
    session: DbSession, principal: CurrentPrincipal, on: Board = Depends(subject_board)
) -> MedicationList:
    """The list (current first, then ended) and the duplicate warnings everyone on the team sees."""
    return await service.listing(session, principal=principal, board=on)


@router.post(
    "/subjects/{subject_id}/medications",
    status_code=status.HTTP_201_CREATED,
    response_model=MedicationRead,
    responses={
        **RESPONSES,
        409: {"description": "No active consent recorded yet"},
        422: {"description": "Unknown drug code, no name, or an end before the start"},
    },
)
async def add_medication(
    body: MedicationCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    signer: Signer,
    on: Board = Depends(subject_board),
) -> MedicationRead:
    """A prescription on the list, with a signed post telling the team (and any duplicate it makes)."""
    return await service.add(session, principal=principal, signer=signer, board=on, data=body)


@router.post(
    "/subjects/{subject_id}/medications/{medication_id}/end",
    response_model=MedicationRead,
    responses={**RESPONSES, 422: {"description": "An end before the start"}},
)
async def end_medication(
    medication_id: UUID,
    body: MedicationEnd,
    session: DbSession,
    principal: CurrentPrincipal,
    signer: Signer,
    on: Board = Depends(subject_board),
) -> MedicationRead:
    """The last day it is taken; the timeline says so."""
    return await service.end(
        session,
        principal=principal,
        signer=signer,
        board=on,
        medication_id=medication_id,
        end_date=body.end_date,
    )


@router.delete(
    "/subjects/{subject_id}/medications/{medication_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=RESPONSES,
)
async def remove_medication(
    medication_id: UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    signer: Signer,
    on: Board = Depends(subject_board),
) -> Response:
    """Entered in error: hidden from the list and the check; the audit log keeps it, the timeline says it."""
    await service.remove(session, principal=principal, signer=signer, board=on, medication_id=medication_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/drug-master", response_model=DrugSearch)
async def search_drugs(
    session: DbSession,
    principal: CurrentPrincipal,
    q: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> DrugSearch:
    """Products of the caller's network's master whose name, ingredient or code holds ``q``."""
    return DrugSearch(items=await master.search(session, tenant=principal.tenant, q=q, limit=limit))


@router.get("/drug-master/status", response_model=DrugMasterStatus)
async def drug_master_status(session: DbSession, principal: CurrentPrincipal) -> DrugMasterStatus:
    return await master.status(session, tenant=principal.tenant)


@router.put(
    "/drug-master",
    response_model=DrugMasterStatus,
    responses={
        403: {"description": "Not the network's operator"},
        413: {"description": "File too large"},
        422: {"description": "Rows refused (errors: row and reason); nothing replaced"},
    },
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_drug_master(
    request: Request, session: DbSession, principal: CurrentPrincipal
) -> DrugMasterStatus:
    """The operator replaces the network's drug master with the CSV of the drug price list (薬価基準収載品目)."""
    if not is_operator(principal):
        raise Problem(
            403, "operator-only", "Operator only", "Only the network's operator imports the drug master."
        )
    data = await master.body_within_limit(request)
    result = await master.replace(session, tenant=principal.tenant, data=data)
    await record_audit(session, principal, "drug_master.import", None, count=result.count, bytes=len(data))
    return result
