"""Attachments' routes: checked uploads to a subject's timeline or a group; downloads streamed after authorization."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession
from yui_common.problems import Problem, not_found

from timeline import objects
from timeline.access.service import Board
from timeline.attachments import service
from timeline.attachments.schemas import AttachmentRead, DownloadLink
from timeline.dependencies import AppSettings, Signer, Store, group_board, subject_board
from timeline.posts.schemas import REFERENCE_HEADER

log = logging.getLogger(__name__)
router = APIRouter(tags=["attachments"])
UPLOAD_DOC = (
    "The request body is the file itself (any Content-Type), streamed to object storage as it arrives. "
    "The type is recognised from the content against an allow-list (images, PDF, office documents, common "
    "video); the name's extension must be that type's. Images are stored re-encoded without their metadata "
    "(EXIF, GPS) and upright; office documents are checked inside (no macros, programs or archives). The "
    "network's size limit applies (default 100 MB). Attach the returned id to a post. A client shows upload "
    "progress from the bytes it has sent."
)


# The body is the file's bytes, read as a stream (not a form), so OpenAPI is told so by hand.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not on the care team or group"},
    413: {"description": "Larger than the network allows"},
    415: {"description": "Not an allowed type (recognised by content)"},
    422: {
        "description": "A file name with a path trick or an extension that is not the content's, an empty "
        "file, an image over the pixel or frame limit or unreadable, an unreadable video, an office document "
        "with unexpected parts, macros or external links"
    },
    503: {"description": "Object storage cannot be reached at the moment; try again shortly"},
}


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value and value.isdigit() else None


def add_upload_route(router: APIRouter, *, path: str, board: Callable[..., Board], name: str) -> None:
    """POST ``{path}/attachments``: one upload for a subject's timeline and a group."""

    @router.post(
        f"{path}/attachments",
        status_code=status.HTTP_201_CREATED,
        response_model=AttachmentRead,
        responses=RESPONSES,
        description=UPLOAD_DOC,
        openapi_extra=UPLOAD_BODY,
        name=name,
    )
    async def upload(
        request: Request,
        filename: Annotated[str, Query(max_length=300)],
        session: DbSession,
        principal: CurrentPrincipal,
        signer: Signer,
        store: Store,
        settings: AppSettings,
        on: Board = Depends(board),
    ) -> AttachmentRead:
        attachment = await service.upload_attachment(
            session,
            principal=principal,
            signer=signer,
            store=store,
            settings=settings,
            board=on,
            filename=filename,
            declared_length=_declared_length(request),
            chunks=request.stream(),
        )
        return AttachmentRead.model_validate(attachment).model_copy(
            update={"has_thumbnail": attachment.thumbnail_key is not None}
        )


add_upload_route(router, path="/subjects/{subject_id}", board=subject_board, name="upload_to_subject")
add_upload_route(router, path="/groups/{group_id}", board=group_board, name="upload_to_group")


@router.get("/attachments/{attachment_id}", response_model=AttachmentRead, responses=RESPONSES)
async def attachment(attachment_id: UUID, session: DbSession, principal: CurrentPrincipal) -> AttachmentRead:
    found = await service.reach_attachment(session, principal=principal, attachment_id=attachment_id)
    return AttachmentRead.model_validate(found).model_copy(
        update={"has_thumbnail": found.thumbnail_key is not None}
    )


@router.get("/attachments/{attachment_id}/download", response_model=DownloadLink, responses=RESPONSES)
async def download_link(
    attachment_id: UUID, session: DbSession, principal: CurrentPrincipal, settings: AppSettings
) -> DownloadLink:
    """Where to download the file: the gateway-relative path of ``/attachments/{id}/content``, which checks
    access on every request (a link shared or kept stops working the moment access ends). Kept for clients
    of the presigned links this once answered; ``expires_at`` is always null."""
    path = await service.download_path(
        session, principal=principal, settings=settings, attachment_id=attachment_id
    )
    return DownloadLink(url=path)


Disposition = Annotated[
    Literal["attachment", "inline"],
    Query(description="attachment (save the file, the default) or inline (show it in the browser)"),
]


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """The disposition, an ASCII fallback name and the real one percent-encoded (RFC 6266/8187)."""
    fallback = (
        "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in filename) or "file"
    )
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def _stream(
    store: Store, key: str, content_type: str, filename: str, disposition: str
) -> StreamingResponse:
    # Opened before the response starts: once the 200 and its headers are sent, a failure can only cut the
    # body short, which a browser saves as a complete but truncated file.
    try:
        opened = await objects.open_object(store, key)
    except objects.ObjectMissingError:
        # The row exists and the bytes do not: not the caller's doing, so the operator must hear of it.
        log.error("attachment object missing from storage: %s", key.rsplit("/", 1)[-1])
        raise not_found("attachment object") from None
    except objects.StoreUnavailableError as error:
        log.warning("object storage unavailable: %s", error)
        raise Problem(
            503,
            "storage-unavailable",
            "Storage unavailable",
            "The file cannot be fetched at the moment; please try again shortly.",
        ) from None
    return StreamingResponse(
        objects.stream_opened(opened),
        media_type=content_type,
        headers={
            "Content-Disposition": content_disposition(filename, disposition),
            # Only allow-listed types are stored, and the browser must not guess another from the bytes.
            "X-Content-Type-Options": "nosniff",
            # Access is decided per request (withdrawal, revocation): no copy may be answered from a cache.
            "Cache-Control": "no-store",
            REFERENCE_HEADER: "true",
        },
    )


@router.get("/attachments/{attachment_id}/content", responses=RESPONSES, response_class=StreamingResponse)
async def content(
    attachment_id: UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    store: Store,
    disposition: Disposition = "attachment",
) -> StreamingResponse:
    """The file itself, streamed from object storage after the need-to-know check; every download audited."""
    found = await service.attachment_for_download(session, principal=principal, attachment_id=attachment_id)
    return await _stream(store, found.object_key, found.content_type, found.filename, disposition)


@router.get("/attachments/{attachment_id}/thumbnail", responses=RESPONSES, response_class=StreamingResponse)
async def thumbnail(
    attachment_id: UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    store: Store,
    disposition: Disposition = "attachment",
) -> StreamingResponse:
    found = await service.attachment_for_download(
        session, principal=principal, attachment_id=attachment_id, thumbnail=True
    )
    assert found.thumbnail_key is not None
    return await _stream(store, found.thumbnail_key, "image/jpeg", f"{found.filename}.thumb.jpg", disposition)
