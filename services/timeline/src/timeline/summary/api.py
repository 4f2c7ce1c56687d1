"""The patient summary's routes: the current version, a new version, and every version with its signature."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from timeline.access.service import Board
from timeline.dependencies import Signer, subject_board
from timeline.summary import service
from timeline.summary.schemas import SummaryRead, SummaryUpdate, SummaryVersions

router = APIRouter(tags=["summary"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such subject, or not on its care team"},
    410: {"description": "Support stopped: consent was withdrawn"},
}


@router.get("/subjects/{subject_id}/summary", response_model=SummaryRead, responses=RESPONSES)
async def read_summary(
    session: DbSession, principal: CurrentPrincipal, on: Board = Depends(subject_board)
) -> SummaryRead:
    """The summary as it stands (version 0 and no content while none was written)."""
    return await service.current(session, principal=principal, board=on)


@router.put(
    "/subjects/{subject_id}/summary",
    status_code=status.HTTP_201_CREATED,
    response_model=SummaryRead,
    responses={
        **RESPONSES,
        409: {"description": "Someone saved a newer version first (current_version), or no consent yet"},
    },
)
async def save_summary(
    body: SummaryUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
    signer: Signer,
    on: Board = Depends(subject_board),
) -> SummaryRead:
    """A new version on top of ``expected_version``; the earlier ones stay as they were, signed."""
    return await service.save(
        session,
        principal=principal,
        signer=signer,
        board=on,
        expected_version=body.expected_version,
        content=body.content,
    )


@router.get("/subjects/{subject_id}/summary/versions", response_model=SummaryVersions, responses=RESPONSES)
async def summary_versions(
    session: DbSession, principal: CurrentPrincipal, signer: Signer, on: Board = Depends(subject_board)
) -> SummaryVersions:
    """Every version, newest first, each with whether its hash and signature still hold."""
    return SummaryVersions(
        items=await service.versions(session, principal=principal, signer=signer, board=on)
    )
