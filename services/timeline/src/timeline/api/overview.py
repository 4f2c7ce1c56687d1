"""Across boards: my feed with unread counts, search, the FHIR export, and the operator's erasure."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from timeline import service
from timeline.api.dependencies import Store
from timeline.api.rendering import mark_reference_only, post_read
from timeline.schemas import ErasureRequest, ErasureResult, Feed, FeedItem, PostRead

router = APIRouter(tags=["overview"])
SearchQuery = Annotated[str, Query(min_length=1, max_length=200, description="Japanese or other text")]


@router.get("/feed", response_model=Feed)
async def feed(session: DbSession, principal: CurrentPrincipal, response: Response) -> Feed:
    """The latest post of each of my subjects and groups, with how many I have not read."""
    items = await service.feed(session, principal=principal)
    mark_reference_only(response)
    return Feed(
        items=[
            FeedItem(
                subject_id=board.subject_id,
                group_id=board.group_id,
                latest_post=post_read(view) if view else None,
                unread_count=unread,
            )
            for board, view, unread in items
        ],
        total_unread=sum(unread for _, _, unread in items),
    )


@router.get("/subjects/{subject_id}/search", response_model=list[PostRead])
async def search_subject(
    subject_id: UUID, q: SearchQuery, session: DbSession, principal: CurrentPrincipal, response: Response
) -> list[PostRead]:
    views = await service.search(session, principal=principal, query=q, subject_id=subject_id)
    mark_reference_only(response)
    return [post_read(v) for v in views]


@router.get("/groups/{group_id}/search", response_model=list[PostRead])
async def search_group(
    group_id: UUID, q: SearchQuery, session: DbSession, principal: CurrentPrincipal
) -> list[PostRead]:
    return [
        post_read(v) for v in await service.search(session, principal=principal, query=q, group_id=group_id)
    ]


@router.get("/search/groups", response_model=list[PostRead])
async def search_my_groups(q: SearchQuery, session: DbSession, principal: CurrentPrincipal) -> list[PostRead]:
    """Search every group I belong to."""
    return [post_read(v) for v in await service.search(session, principal=principal, query=q)]


@router.get("/subjects/{subject_id}/fhir", response_model=dict[str, Any])
async def fhir_export(subject_id: UUID, session: DbSession, principal: CurrentPrincipal) -> Response:
    """FHIR R4 Bundle: Communication per post, DocumentReference per attachment (t10)."""
    import json

    bundle = await service.fhir_export(session, principal=principal, subject_id=subject_id)
    return Response(
        json.dumps(bundle, ensure_ascii=False),
        media_type="application/fhir+json",
        headers={"X-Yui-Reference-Only": "true"},
    )


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
