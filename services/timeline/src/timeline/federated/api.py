"""`/federated/subjects/{id}/posts`: federation's calls on behalf of a peer network's user (issue 12, fed2).

Internal: the gateway does not route `/federated/`; federation reaches it on the deployment's network with a
grant it signs (grants.py). No staff token is involved, so nothing here trusts the gateway's headers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from yui_common.db import DbSession
from yui_common.vocabulary import PostCategory

from timeline.federated import service
from timeline.federated.grants import grant_of

router = APIRouter(prefix="/federated", tags=["federation"])
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid grant from federation"},
    404: {"description": "The subject is not shared here"},
    410: {"description": "Support stopped: consent was withdrawn"},
}


class FederatedPost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: PostCategory = "other"
    body: str = Field(min_length=1, max_length=20000)
    parent_id: UUID | None = None


@router.get(
    "/subjects/{subject_id}/posts", responses=REFUSALS, summary="A peer user's read (federation only)"
)
async def federated_read(subject_id: UUID, request: Request, session: DbSession) -> dict[str, Any]:
    grant = await grant_of(request, subject_id=subject_id, write=False)
    return await service.read(session, grant)


@router.post(
    "/subjects/{subject_id}/posts",
    status_code=201,
    responses={**REFUSALS, 422: {"description": "A category the referral does not share"}},
    summary="A peer user's post or reply (federation only)",
)
async def federated_post(
    subject_id: UUID, payload: FederatedPost, request: Request, session: DbSession
) -> dict[str, Any]:
    grant = await grant_of(request, subject_id=subject_id, write=True)
    return await service.write(
        session,
        grant,
        request.app.state.signer,
        category=payload.category,
        body=payload.body,
        parent_id=payload.parent_id,
    )
