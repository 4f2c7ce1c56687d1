"""Attachments (t7): checked uploads (typed by content, images without metadata, office files checked
inside); reaching a file through its post; downloads through the API. Never commits."""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common.auth import Principal
from yui_common.problems import Problem, not_found
from yui_common.storage import ObjectStore

from timeline import network_rules, objects
from timeline.access.service import Board, board_for, board_of, reach_post, record_audit
from timeline.attachments import content_types, images, office_documents, repository, videos
from timeline.integrity.signing import ContentSigner
from timeline.models import Attachment
from timeline.settings import Settings

_T = TypeVar("_T")

# Decoding an image or reading an archive's directory takes a core and memory for as long as it lasts; more at
# once than this only makes every one of them slower and lets a burst of uploads exhaust the process' memory.
# The others wait their turn (their bytes are already spooled).
CHECKS_AT_ONCE = 2
_check_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def _check_in_thread(check: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    """Run a blocking check of an upload in a thread, at most CHECKS_AT_ONCE at a time in this process."""
    # One semaphore per event loop: an asyncio.Semaphore belongs to the loop it was first awaited in.
    slots = _check_slots.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(CHECKS_AT_ONCE))
    async with slots:
        return await asyncio.to_thread(check, *args, **kwargs)


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
    """Check, then store: nothing stored when refused. Images are re-encoded without their metadata (HEIC and
    AVIF as JPEG), office files checked inside and MP4/QuickTime videos stripped of their metadata boxes, from a
    temporary file; everything else streams to object storage as it arrives."""
    board = await board_for(session, principal, board, write=True)
    limit = (await network_rules.policy_for(session, settings, principal.tenant)).max_upload_bytes
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
    _check_extension(clean_name, content_type)
    attachment_id = uuid7()
    key = f"{board.object_prefix}{attachment_id}"
    stream = objects.UploadStream(limit)
    try:
        if _checked_before_storing(content_type):
            stored = await _store_checked(
                store, key, content_type, clean_name, stream, head, chunks, settings
            )
        else:
            stored = await _store_streamed(store, key, content_type, stream, head, chunks)
    except objects.UploadTooLargeError:
        raise _too_large(limit) from None
    # From here on, whatever stops this transaction from committing takes the stored bytes with it.
    objects.remove_unless_committed(session, store, *stored.keys)
    # Checked again, now holding the subject's access row until commit: the upload commits before a withdrawal
    # of the subject or is refused by it (C4). Not held while the bytes arrive, which may take minutes and
    # would keep a withdrawal waiting as long.
    board = await board_for(session, principal, board, write=True, hold=True)
    now = datetime.now(UTC)
    attachment = Attachment(
        id=attachment_id,
        tenant=principal.tenant,
        subject_id=board.subject_id,
        group_id=board.group_id,
        uploaded_by=principal.user_id,
        filename=_renamed_for(clean_name, stored.content_type),
        content_type=stored.content_type,
        size=stored.size,
        object_key=key,
        thumbnail_key=stored.thumbnail_key,
        content_sha256=stored.sha256,
        signature=signer.sign(stored.sha256, principal.user_id, now),
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
        size=stored.size,
        content_type=stored.content_type,
    )
    return attachment


def _checked_before_storing(content_type: str) -> bool:
    return (
        content_types.is_image(content_type)
        or content_types.is_office_zip(content_type)
        or content_types.is_ole(content_type)
        or content_types.is_mp4_family(content_type)
    )


def _renamed_for(filename: str, stored_type: str) -> str:
    """A converted photo (IMG_0001.HEIC stored as JPEG) is offered as IMG_0001.jpg: the receiver's computer
    opens a file by its extension."""
    if content_types.extension_agrees(filename, stored_type):
        return filename
    return f"{filename.rpartition('.')[0]}.jpg" if stored_type == "image/jpeg" else filename


@dataclass(frozen=True)
class _Stored:
    """What went to object storage: the size and hash of the bytes stored (not of the bytes uploaded)."""

    content_type: str
    size: int
    sha256: str
    thumbnail_key: str | None
    keys: tuple[str, ...]


async def _store_streamed(
    store: ObjectStore,
    key: str,
    content_type: str,
    stream: objects.UploadStream,
    head: bytes,
    chunks: AsyncIterator[bytes],
) -> _Stored:
    try:
        await objects.put_streaming(store, key, stream.blocks(head, chunks), content_type=content_type)
    except BaseException:
        await objects.remove_objects(store, [key])
        raise
    return _Stored(content_type, stream.size, stream.sha256.hexdigest(), None, (key,))


async def _store_checked(
    store: ObjectStore,
    key: str,
    content_type: str,
    filename: str,
    stream: objects.UploadStream,
    head: bytes,
    chunks: AsyncIterator[bytes],
    settings: Settings,
) -> _Stored:
    """Images, office files and MP4/QuickTime videos: the whole file is checked (an image re-encoded, a video's
    metadata blanked) before anything is stored, so a refusal leaves nothing behind."""
    with await objects.spool(stream, head, chunks) as file:
        if content_types.is_image(content_type):
            return await _store_image(store, key, content_type, file, settings)
        if content_types.is_mp4_family(content_type):
            try:
                await _check_in_thread(videos.remove_metadata, file)
            except videos.VideoRefusedError:
                raise Problem(
                    422,
                    "unreadable-video",
                    "Unreadable video",
                    "The video could not be read; it may be damaged.",
                ) from None
            return await _store_file(store, key, content_type, file, stream.size)
        if content_types.is_ole(content_type):
            try:
                await _check_in_thread(office_documents.inspect_legacy, file)
            except office_documents.DocumentRefusedError as refused:
                raise Problem(422, "unsafe-document", "Document not accepted", str(refused)) from None
            return await _store_file(store, key, content_type, file, stream.size)
        limits = office_documents.Limits(
            max_members=settings.office_max_members,
            max_uncompressed_bytes=settings.office_max_uncompressed_bytes,
            max_compression_ratio=settings.office_max_compression_ratio,
        )
        try:
            content_type = await _check_in_thread(office_documents.inspect, file, content_type, limits)
        except office_documents.DocumentRefusedError as refused:
            raise Problem(422, "unsafe-document", "Document not accepted", str(refused)) from None
        _check_extension(filename, content_type)
        return await _store_file(store, key, content_type, file, stream.size)


async def _store_image(
    store: ObjectStore, key: str, content_type: str, file: IO[bytes], settings: Settings
) -> _Stored:
    try:
        clean = await _check_in_thread(
            images.clean_image,
            file,
            content_type,
            max_pixels=settings.max_image_pixels,
            thumbnail_px=settings.thumbnail_max_px,
        )
    except images.ImageRefusedError as refused:
        raise _image_refused(refused, settings.max_image_pixels) from None
    thumbnail_key = f"{key}.thumb.jpg"
    try:
        await objects.put_bytes(store, key, clean.data, content_type=clean.content_type)
        await objects.put_bytes(store, thumbnail_key, clean.thumbnail, content_type="image/jpeg")
    except BaseException:
        await objects.remove_objects(store, [key, thumbnail_key])
        raise
    digest = hashlib.sha256(clean.data).hexdigest()
    return _Stored(clean.content_type, len(clean.data), digest, thumbnail_key, (key, thumbnail_key))


async def _store_file(store: ObjectStore, key: str, content_type: str, file: IO[bytes], size: int) -> _Stored:
    """Store the checked file; its hash is taken from the file as stored (a video's metadata was blanked)."""
    file.seek(0)
    digest = await asyncio.to_thread(hashlib.file_digest, file, "sha256")  # type: ignore[arg-type]
    file.seek(0)
    try:
        await objects.put_file(store, key, file, length=size, content_type=content_type)
    except BaseException:
        await objects.remove_objects(store, [key])
        raise
    return _Stored(content_type, size, digest.hexdigest(), None, (key,))


def _check_extension(filename: str, content_type: str) -> None:
    if not content_types.extension_agrees(filename, content_type):
        raise Problem(
            422,
            "extension-mismatch",
            "The file name does not match its content",
            f"The content is {content_type}; name the file with that type's extension.",
            content_type=content_type,
        )


def _image_refused(refused: images.ImageRefusedError, max_pixels: int) -> Problem:
    if refused.slug == "image-too-large":
        return Problem(
            422,
            "image-too-large",
            "Image too large",
            f"Images of up to {max_pixels} pixels can be attached; reduce the image's dimensions.",
            max_pixels=max_pixels,
        )
    if refused.slug == "image-too-many-frames":
        return Problem(
            422,
            "image-too-many-frames",
            "Too many frames",
            f"Animations of up to {images.MAX_FRAMES} frames can be attached.",
            max_frames=images.MAX_FRAMES,
        )
    return Problem(
        422, "unreadable-image", "Unreadable image", "The image could not be read; it may be damaged."
    )


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


async def download_path(
    session: AsyncSession, *, principal: Principal, settings: Settings, attachment_id: UUID
) -> str:
    """The gateway-relative path of the attachment's streaming route, for a caller who may reach it now.

    No presigned URL of the object store: every download goes through the API, which checks need-to-know,
    withdrawal and revocation on each request and audits it. Handing out the path reads nothing, so it is
    not audited (the downloads are)."""
    attachment = await reach_attachment(session, principal=principal, attachment_id=attachment_id)
    return f"{settings.public_path.rstrip('/')}/attachments/{attachment.id}/content"
