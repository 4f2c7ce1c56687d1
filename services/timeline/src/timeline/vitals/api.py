"""Vitals' routes on a subject's timeline: record an entry (with its post) and read the series for the chart."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from timeline.access.service import Board, subject_board
from timeline.dependencies import Signer
from timeline.dependencies import subject_board as board_on_path
from timeline.vitals import service
from timeline.vitals.schemas import VitalsCreate, VitalsRead, VitalsSeries

router = APIRouter(tags=["vitals"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such subject, or not on its care team"},
    409: {"description": "No active consent recorded yet"},
    410: {"description": "Support stopped: consent was withdrawn"},
}


@router.post(
    "/subjects/{subject_id}/vitals",
    status_code=status.HTTP_201_CREATED,
    response_model=VitalsRead,
    responses={**RESPONSES, 422: {"description": "A measure out of range, or none given"}},
)
async def record_vitals(
    body: VitalsCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    signer: Signer,
    on: Board = Depends(board_on_path),
) -> VitalsRead:
    """One moment's measures: a post of category vital_signs says them to the team, the entry keeps them."""
    return await service.record(session, principal=principal, signer=signer, board=on, data=body)


@router.get("/subjects/{subject_id}/vitals", response_model=VitalsSeries, responses=RESPONSES)
async def read_vitals(
    session: DbSession,
    principal: CurrentPrincipal,
    on: Board = Depends(board_on_path),
    days: Annotated[int, Query(ge=1, le=400)] = 7,
) -> VitalsSeries:
    """The subject's entries of the last ``days`` days, oldest first (the chart's data)."""
    board = await subject_board(session, principal=principal, subject_id=on.subject_id)  # type: ignore[arg-type]
    return await service.series(session, principal=principal, board=board, days=days)
