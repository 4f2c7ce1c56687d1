"""Posts' routes: writing and paging posts on a board (one implementation for a subject's timeline and a
group), threads by id (replies, versions, read marks, deletion), the feed, search and the FHIR export."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession, DriverConnection

from timeline.access.service import Board
from timeline.dependencies import Signer, subject_board
from timeline.posts import pages, service
from timeline.posts.responses import mark_reference_only, post_read, read_mark_read
from timeline.posts.schemas import (
    REFERENCE_HEADER,
    ConversationPage,
    Feed,
    MentionCandidates,
    PostCreate,
    PostDetail,
    PostEdit,
    PostPage,
    PostRead,
    PostVersionRead,
    ReadMarkRead,
    ReadMarksCreate,
    ReadMarksResult,
    ReplyCreate,
)

Responses = dict[int | str, dict[str, Any]]
RESPONSES: Responses = {
    404: {"description": "No such subject or post, or not on its care team"},
    410: {"description": "Support stopped: consent was withdrawn"},
}
SearchQuery = Annotated[str, Query(min_length=1, max_length=200, description="Japanese or other text")]


def _reference_only_json(body: bytes) -> Response:
    """JSON built by the lean read path, with the reference-only header every reading of posts carries."""
    answer = Response(body, media_type="application/json")
    mark_reference_only(answer)
    return answer


def add_board_routes(
    router: APIRouter,
    *,
    path: str,
    board: Callable[..., Board],
    reached: Callable[..., Any],
    responses: Responses,
    create_name: str,
    list_name: str,
) -> None:
    """POST and GET ``{path}/posts`` on ``router``: the same use cases serve a subject's timeline and a group.
    For a write the board dependency reads the path and the service decides whether the caller may reach it;
    the page's ``reached`` dependency decides it in the read's one authorization statement."""

    @router.post(
        f"{path}/posts",
        status_code=status.HTTP_201_CREATED,
        response_model=PostRead,
        responses=responses,
        name=create_name,
    )
    async def create_post(
        body: PostCreate,
        session: DbSession,
        principal: CurrentPrincipal,
        signer: Signer,
        on: Board = Depends(board),
    ) -> PostRead:
        request = body.support_request
        post = await service.create_post(
            session,
            principal=principal,
            signer=signer,
            board=on,
            category=body.category,
            body=body.body,
            mentions=body.mentions,
            attachment_ids=body.attachment_ids,
            addressed_user_id=request.addressed_user_id if request else None,
            addressed_facility_id=request.addressed_facility_id if request else None,
        )
        [view] = await service.views_of(session, principal, [post])
        return post_read(view)

    @router.get(f"{path}/posts", response_model=PostPage, responses=responses, name=list_name)
    async def list_posts(
        authenticated: pages.Verified,  # before the connection: a refused token takes none from the pool
        connection: DriverConnection,
        on: Board = Depends(reached),
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        """The hot read (timeline.posts.pages): no ORM and no transaction, one authorization statement, the
        page and its audit entry in one more, JSON built once."""
        return _reference_only_json(
            await pages.read_page(
                connection, principal=authenticated.principal, board=on, limit=limit, cursor=cursor
            )
        )

    @router.get(
        f"{path}/conversation",
        response_model=ConversationPage,
        responses=responses,
        name=f"{list_name}_conversation",
    )
    async def conversation(
        authenticated: pages.Verified,
        connection: DriverConnection,
        on: Board = Depends(reached),
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        """What ``posts`` and ``mention-candidates`` answer, in one call, as the staff UI's conversation page
        shows them: one authorization statement, then the page and the members, each with its audit entry."""
        return _reference_only_json(
            await pages.read_conversation(
                connection, principal=authenticated.principal, board=on, limit=limit, cursor=cursor
            )
        )

    @router.post(
        f"{path}/read-marks",
        response_model=ReadMarksResult,
        responses=responses,
        name=f"{list_name}_mark_read",
    )
    async def mark_read(
        body: ReadMarksCreate, session: DbSession, principal: CurrentPrincipal, on: Board = Depends(board)
    ) -> ReadMarksResult:
        """Posts and replies of this board that have been on my screen count as read (既読), up to
        READ_MARK_BATCH at once; ids already read, my own, deleted or not on this board are passed over."""
        marked = await service.mark_seen(session, principal=principal, board=on, post_ids=body.post_ids)
        return ReadMarksResult(marked=marked)

    @router.get(
        f"{path}/mention-candidates",
        response_model=MentionCandidates,
        responses=responses,
        name=f"{list_name}_mention_candidates",
    )
    async def mention_candidates(
        authenticated: pages.Verified, connection: DriverConnection, on: Board = Depends(reached)
    ) -> Response:
        """Whom a post on this board may mention, by name (profession, facility): the care team or the
        group's members, the caller excepted. A lean read, as the page (two statements, audited)."""
        return _reference_only_json(
            await pages.read_mention_candidates(connection, principal=authenticated.principal, board=on)
        )


router = APIRouter(tags=["posts"])
add_board_routes(
    router,
    path="/subjects/{subject_id}",
    board=subject_board,
    reached=pages.reached_subject_board,
    responses=RESPONSES,
    create_name="create_post",
    list_name="list_posts",
)


@router.get("/posts/{post_id}", response_model=PostDetail, responses=RESPONSES)
async def open_post(
    post_id: UUID, session: DbSession, principal: CurrentPrincipal, response: Response
) -> PostDetail:
    """The post, its replies and who has read it (既読); opening it marks it read."""
    thread = await service.open_post(session, principal=principal, post_id=post_id)
    mark_reference_only(response)
    return PostDetail(
        **{
            **post_read(thread.view).model_dump(),
            "read_by": [read_mark_read(r) for r in thread.read_by],
        },
        replies=[post_read(v) for v in thread.replies],
    )


@router.post(
    "/posts/{post_id}/replies",
    status_code=status.HTTP_201_CREATED,
    response_model=PostRead,
    responses=RESPONSES,
)
async def reply(
    post_id: UUID, body: ReplyCreate, session: DbSession, principal: CurrentPrincipal, signer: Signer
) -> PostRead:
    created = await service.reply(
        session,
        principal=principal,
        signer=signer,
        post_id=post_id,
        category=body.category,
        body=body.body,
        mentions=body.mentions,
        attachment_ids=body.attachment_ids,
    )
    [view] = await service.views_of(session, principal, [created])
    return post_read(view)


@router.post(
    "/posts/{post_id}/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=PostRead,
    responses={**RESPONSES, 409: {"description": "The post is deleted, or is a vitals entry (not edited)"}},
)
async def edit_post(
    post_id: UUID, body: PostEdit, session: DbSession, principal: CurrentPrincipal, signer: Signer
) -> PostRead:
    """Edit = a new version; the earlier versions stay and are listed (T5)."""
    post = await service.edit_post(
        session, principal=principal, signer=signer, post_id=post_id, category=body.category, body=body.body
    )
    [view] = await service.views_of(session, principal, [post])
    return post_read(view)


@router.get("/posts/{post_id}/versions", response_model=list[PostVersionRead], responses=RESPONSES)
async def list_versions(
    post_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> list[PostVersionRead]:
    versions = await service.post_versions(session, principal=principal, post_id=post_id)
    return [
        PostVersionRead(
            version=v.version.version,
            author_id=v.version.author_id,
            author=v.author,
            category=v.version.category,
            body=v.version.body,
            attachment_ids=list(v.version.attachment_ids),
            created_at=v.version.created_at,
            content_sha256=v.version.content_sha256,
            signature=v.version.signature,
        )
        for v in versions
    ]


@router.delete("/posts/{post_id}", response_model=PostRead, responses=RESPONSES)
async def delete_post(post_id: UUID, session: DbSession, principal: CurrentPrincipal) -> PostRead:
    """By the author or the operator: leaves a tombstone and an audit entry."""
    post = await service.delete_post(session, principal=principal, post_id=post_id)
    [view] = await service.views_of(session, principal, [post])
    return post_read(view)


@router.get("/posts/{post_id}/read-marks", response_model=list[ReadMarkRead], responses=RESPONSES)
async def read_marks(post_id: UUID, session: DbSession, principal: CurrentPrincipal) -> list[ReadMarkRead]:
    readers = await service.read_marks(session, principal=principal, post_id=post_id)
    return [read_mark_read(r) for r in readers]


@router.get("/feed", response_model=Feed)
async def feed(session: DbSession, principal: CurrentPrincipal) -> Response:
    """The latest post of each of my subjects and groups, with how many I have not read (a hot read:
    timeline.posts.pages, no ORM, JSON built once)."""
    answer = Response(await pages.read_feed(session, principal=principal), media_type="application/json")
    mark_reference_only(answer)
    return answer


@router.get("/subjects/{subject_id}/search", response_model=list[PostRead])
async def search_subject(
    subject_id: UUID, q: SearchQuery, session: DbSession, principal: CurrentPrincipal, response: Response
) -> list[PostRead]:
    views = await service.search(session, principal=principal, query=q, subject_id=subject_id)
    mark_reference_only(response)
    return [post_read(v) for v in views]


@router.get("/groups/{group_id}/search", response_model=list[PostRead])
async def search_group(
    group_id: UUID, q: SearchQuery, session: DbSession, principal: CurrentPrincipal, response: Response
) -> list[PostRead]:
    views = await service.search(session, principal=principal, query=q, group_id=group_id)
    mark_reference_only(response)
    return [post_read(v) for v in views]


@router.get("/search/groups", response_model=list[PostRead])
async def search_my_groups(
    q: SearchQuery, session: DbSession, principal: CurrentPrincipal, response: Response
) -> list[PostRead]:
    """Search every group I belong to."""
    views = await service.search(session, principal=principal, query=q)
    mark_reference_only(response)
    return [post_read(v) for v in views]


@router.get("/subjects/{subject_id}/fhir", response_model=dict[str, Any])
async def fhir_export(subject_id: UUID, session: DbSession, principal: CurrentPrincipal) -> Response:
    """FHIR R4 Bundle: Communication per post, DocumentReference per attachment (t10)."""
    bundle = await service.fhir_export(session, principal=principal, subject_id=subject_id)
    return Response(
        json.dumps(bundle, ensure_ascii=False),
        media_type="application/fhir+json",
        headers={REFERENCE_HEADER: "true"},
    )
