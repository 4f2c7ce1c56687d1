"""Attachments (t7): checked, streamed uploads; reaching a file through its post; download links.
Never commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common.auth import Principal
from yui_common.problems import Problem, not_found
from yui_common.storage import ObjectStore

from timeline import objects
from timeline.access.service import Board, board_for, board_of, reach_post, record_audit
from timeline.attachments import content_types, repository
from timeline.integrity.signing import ContentSigner
from timeline.models import Attachment
from timeline.settings import Settings


async def pending_uploads(
    session: AsyncSession, principal: Principal, board: Board, attachment_ids: Sequence[UUID]
) -> list[Attachment]:
    wanted = list(dict.fromkeys(attachment_ids))
    if not wanted:
        return []
    found = await repository.pending_attachments(
        session,
        attachment_ids=wanted,
        uploaded_by=principal.user_id,
        subject_id=board.subject_id,
        group_id=board.group_id,
    )
    if len(found) != len(wanted):
        raise Problem(
            422,
            "unknown-attachment",
            "Unknown attachment",
            "Attach only your own uploads to this board that are not attached yet.",
        )
    return list(found)


async def upload_attachment(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    store: ObjectStore,
    settings: Settings,
    board: Board,
    filename: str,
    declared_length: int | None,
    chunks: AsyncIterator[bytes],
) -> Attachment:
    """Check, then stream to object storage: never the whole file in memory, nothing stored when refused."""
    board = await board_for(session, principal, board, write=True)
    limit = settings.policy_for(principal.tenant).max_upload_bytes
    clean_name = content_types.clean_filename(filename)
    if clean_name is None:
        raise Problem(
            422,
            "bad-filename",
            "Bad file name",
            "The file name must be a plain name: no folders, '..', control or hidden characters.",
        )
    if declared_length is not None and declared_length > limit:
        raise _too_large(limit)
    head = b""
    async for chunk in chunks:
        head += chunk
        if len(head) >= content_types.SNIFF_BYTES:
            break
    content_type = content_types.sniff(head)
    if not head:
        raise Problem(422, "empty-file", "Empty file", "The upload has no content.")
    if content_type is None:
        raise Problem(
            415,
            "unsupported-content",
            "File type not allowed",
            "Only images, PDF, office documents and common video formats can be attached; the type is "
            "recognised from the content, not the name.",
        )
    attachment_id = uuid7()
    key = f"{board.object_prefix}{attachment_id}"
    stream = objects.UploadStream(limit)
    try:
        await objects.put_streaming(store, key, stream.blocks(head, chunks), content_type=content_type)
    except objects.UploadTooLargeError:
        await objects.remove_objects(store, [key])
        raise _too_large(limit) from None
    except Exception:
        await objects.remove_objects(store, [key])
        raise
    # From here on, whatever stops this transaction from committing takes the stored bytes with it.
    objects.remove_unless_committed(session, store, key)
    now = datetime.now(UTC)
    digest = stream.sha256.hexdigest()
    thumbnail_key = None
    if content_types.is_image(content_type) and await objects.make_thumbnail(
        store, key, f"{key}.thumb.jpg", max_px=settings.thumbnail_max_px
    ):
        thumbnail_key = f"{key}.thumb.jpg"
        objects.remove_unless_committed(session, store, thumbnail_key)
    attachment = Attachment(
        id=attachment_id,
        tenant=principal.tenant,
        subject_id=board.subject_id,
        group_id=board.group_id,
        uploaded_by=principal.user_id,
        filename=clean_name,
        content_type=content_type,
        size=stream.size,
        object_key=key,
        thumbnail_key=thumbnail_key,
        content_sha256=digest,
        signature=signer.sign(digest, principal.user_id, now),
        created_at=now,
    )
    session.add(attachment)
    await session.flush()
    await record_audit(
        session,
        principal,
        "attachment.upload",
        board,
        attachment=attachment.id,
        size=stream.size,
        content_type=content_type,
    )
    return attachment


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "payload-too-large",
        "File too large",
        f"This network accepts attachments up to {limit} bytes.",
        max_bytes=limit,
    )


async def reach_attachment(session: AsyncSession, *, principal: Principal, attachment_id: UUID) -> Attachment:
    attachment = await repository.attachment_by_id(
        session, tenant=principal.tenant, attachment_id=attachment_id
    )
    if attachment is None:
        raise not_found("attachment")
    if attachment.post_id is None:
        if attachment.uploaded_by != principal.user_id:
            raise not_found("attachment")
        await board_for(session, principal, board_of(attachment))
    else:
        post, _ = await reach_post(session, principal=principal, post_id=attachment.post_id)
        if post.deleted_at is not None:
            raise not_found("attachment")
    return attachment


async def attachment_for_download(
    session: AsyncSession, *, principal: Principal, attachment_id: UUID, thumbnail: bool = False
) -> Attachment:
    attachment = await reach_attachment(session, principal=principal, attachment_id=attachment_id)
    if thumbnail and attachment.thumbnail_key is None:
        raise not_found("thumbnail")
    await record_audit(
        session,
        principal,
        "attachment.download",
        board_of(attachment),
        attachment=attachment.id,
        thumbnail=thumbnail,
    )
    return attachment


async def download_link(
    session: AsyncSession,
    *,
    principal: Principal,
    store: ObjectStore,
    settings: Settings,
    attachment_id: UUID,
) -> tuple[str, datetime]:
    """A presigned URL valid for this one object and a few minutes (after the need-to-know check)."""
    from urllib.parse import quote

    attachment = await attachment_for_download(session, principal=principal, attachment_id=attachment_id)
    ttl = timedelta(seconds=settings.download_url_ttl_s)
    url = await store.presigned_get(
        attachment.object_key, expires=ttl, filename=quote(attachment.filename, safe="")
    )
    return url, datetime.now(UTC) + ttl
