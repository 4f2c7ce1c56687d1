"""The operator's erasure route (T3): a subject's, a group's or a period's posts with their files."""

from __future__ import annotations

from fastapi import APIRouter
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from timeline.dependencies import Store
from timeline.retention import service
from timeline.retention.schemas import ErasureRequest, ErasureResult

router = APIRouter(tags=["retention"])


@router.post("/operator/erasures", response_model=ErasureResult)
async def erase(
    body: ErasureRequest, session: DbSession, principal: CurrentPrincipal, store: Store
) -> ErasureResult:
    """The operator deletes a subject's, a group's or a period's posts with their files (T3), audited."""
    posts, removed = await service.erase_by_operator(
        session,
        principal=principal,
        store=store,
        subject_id=body.subject_id,
        group_id=body.group_id,
        posted_from=body.posted_from,
        posted_before=body.posted_before,
    )
    return ErasureResult(posts_removed=posts, objects_removed=removed)
