"""Posts: on a subject's timeline, by id (threads, versions, read marks, verification), support requests."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from timeline import service
from timeline.api.dependencies import Signer, Store
from timeline.api.rendering import mark_reference_only, post_page, post_read
from timeline.schemas import (
    AttachmentCheck,
    PostCreate,
    PostDetail,
    PostEdit,
    PostPage,
    PostRead,
    PostVerification,
    PostVersionRead,
    ReadMarkRead,
    ReplyCreate,
    SupportDecision,
    VersionCheck,
)

router = APIRouter(tags=["posts"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such subject or post, or not on its care team"},
    410: {"description": "Support stopped: consent was withdrawn"},
}


@router.post(
    "/subjects/{subject_id}/posts",
    status_code=status.HTTP_201_CREATED,
    response_model=PostRead,
    responses=RESPONSES,
)
async def create_post(
    subject_id: UUID, body: PostCreate, session: DbSession, principal: CurrentPrincipal, signer: Signer
) -> PostRead:
    request = body.support_request
    post = await service.create_post(
        session,
        principal=principal,
        signer=signer,
        board=service.Board(principal.tenant, subject_id=subject_id),
        category=body.category,
        body=body.body,
        mentions=body.mentions,
        attachment_ids=body.attachment_ids,
        addressed_user_id=request.addressed_user_id if request else None,
        addressed_facility_id=request.addressed_facility_id if request else None,
    )
    [view] = await service.views_of(session, principal, [post])
    return post_read(view)


@router.get("/subjects/{subject_id}/posts", response_model=PostPage, responses=RESPONSES)
async def list_posts(
    subject_id: UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    views, next_cursor = await service.list_posts(
        session,
        principal=principal,
        board=service.Board(principal.tenant, subject_id=subject_id),
        limit=limit,
        cursor=cursor,
    )
    return post_page(views, next_cursor)


@router.get("/posts/{post_id}", response_model=PostDetail, responses=RESPONSES)
async def open_post(
    post_id: UUID, session: DbSession, principal: CurrentPrincipal, response: Response
) -> PostDetail:
    """The post, its replies and who has read it (既読); opening it marks it read."""
    thread = await service.open_post(session, principal=principal, post_id=post_id)
    mark_reference_only(response)
    return PostDetail(
        **post_read(thread.view).model_dump(),
        replies=[post_read(v) for v in thread.replies],
        read_by=[ReadMarkRead(user_id=m.user_id, read_at=m.read_at) for m in thread.read_by],
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
    responses=RESPONSES,
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
    return [PostVersionRead.model_validate(v) for v in versions]


@router.delete("/posts/{post_id}", response_model=PostRead, responses=RESPONSES)
async def delete_post(post_id: UUID, session: DbSession, principal: CurrentPrincipal) -> PostRead:
    """By the author or the operator: leaves a tombstone and an audit entry."""
    post = await service.delete_post(session, principal=principal, post_id=post_id)
    return post_read(service.PostView(post=post, attachments=[]))


@router.get("/posts/{post_id}/read-marks", response_model=list[ReadMarkRead], responses=RESPONSES)
async def read_marks(post_id: UUID, session: DbSession, principal: CurrentPrincipal) -> list[ReadMarkRead]:
    marks = await service.read_marks(session, principal=principal, post_id=post_id)
    return [ReadMarkRead(user_id=m.user_id, read_at=m.read_at) for m in marks]


@router.get("/posts/{post_id}/verify", response_model=PostVerification, responses=RESPONSES)
async def verify_post(
    post_id: UUID, session: DbSession, principal: CurrentPrincipal, signer: Signer, store: Store
) -> PostVerification:
    """Recompute hashes and check the service's Ed25519 signatures of every version and attachment."""
    result = await service.verify_post(
        session, principal=principal, signer=signer, store=store, post_id=post_id
    )
    return PostVerification(
        post_id=result.post_id,
        intact=result.intact,
        current_row_matches_latest_version=result.current_row_matches_latest_version,
        versions=[
            VersionCheck(version=v, content_sha256_matches=h, signature_valid=s)
            for v, h, s in result.versions
        ],
        attachments=[
            AttachmentCheck(id=i, signature_valid=s, stored_object_matches=o)
            for i, s, o in result.attachments
        ],
        public_key_pem=signer.public_key_pem(),
    )


@router.post("/posts/{post_id}/support-request/decision", response_model=PostRead, responses=RESPONSES)
async def decide_support_request(
    post_id: UUID, body: SupportDecision, session: DbSession, principal: CurrentPrincipal
) -> PostRead:
    """The requester adopts or declines the answer (T2)."""
    post = await service.decide_support_request(
        session, principal=principal, post_id=post_id, decision=body.decision
    )
    [view] = await service.views_of(session, principal, [post])
    return post_read(view)


@router.get("/support-requests", response_model=list[PostRead])
async def support_requests(
    session: DbSession,
    principal: CurrentPrincipal,
    response: Response,
    box: Annotated[str, Query(pattern="^(received|sent)$")] = "received",
) -> list[PostRead]:
    """Requests addressed to me or my facility (received), or those I sent."""
    posts = await service.support_requests(session, principal=principal, sent=box == "sent")
    mark_reference_only(response)
    return [post_read(v) for v in await service.views_of(session, principal, posts)]


@router.get("/signing-key", response_class=Response)
async def signing_key(signer: Signer) -> Response:
    """The service's Ed25519 public key (PEM), to check signatures outside Yui."""
    return Response(signer.public_key_pem(), media_type="application/x-pem-file")
