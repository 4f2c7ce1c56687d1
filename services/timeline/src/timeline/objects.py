"""Attachments' bytes in object storage: streamed uploads, hashing, thumbnails, removal."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import queue
import tempfile
from collections.abc import AsyncIterator, Sequence
from functools import lru_cache

from PIL import Image
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from yui_common.storage import ObjectStore

from timeline.settings import Settings

_BLOCK = 1024 * 1024
_END = object()


@lru_cache(maxsize=4)
def _store(endpoint: str, bucket: str) -> ObjectStore:
    return ObjectStore(Settings(), bucket=bucket)


def store_for(settings: Settings) -> ObjectStore:
    """One client per store for consumers and jobs (the API keeps its own in app.state)."""
    return _store(settings.s3_endpoint, settings.s3_bucket)


class ChunkPipe(io.RawIOBase):
    """A file the minio client (in a thread) reads while the request's chunks arrive (in the event loop).

    The queue is bounded, so at most a few blocks wait here and the client's one part buffer is all the
    memory an upload takes, whatever its size.
    """

    def __init__(self, depth: int = 4) -> None:
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._current = b""
        self._offset = 0
        self._finished = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._offset >= len(self._current):
            if self._finished:
                return b""
            item = self._queue.get()
            if item is _END:
                self._finished = True
                return b""
            if isinstance(item, BaseException):
                self._finished = True
                raise item
            assert isinstance(item, bytes)
            self._current, self._offset = item, 0
        end = len(self._current) if size < 0 else self._offset + size
        chunk = self._current[self._offset : end]
        self._offset += len(chunk)
        return chunk

    async def feed(self, item: object) -> None:
        await asyncio.to_thread(self._queue.put, item)


class UploadStream:
    """Counts, hashes and forwards an upload in 1 MiB blocks; raises when it passes the size limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.sha256 = hashlib.sha256()

    async def blocks(self, head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        buffer = bytearray(head)
        self._count(head)
        async for chunk in rest:
            self._count(chunk)
            buffer += chunk
            if len(buffer) >= _BLOCK:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)

    def _count(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise UploadTooLargeError(self.limit)
        self.sha256.update(chunk)


class UploadTooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


async def put_streaming(
    store: ObjectStore, key: str, blocks: AsyncIterator[bytes], *, content_type: str
) -> None:
    """Store the blocks under key as they arrive; on any failure the client aborts its multipart upload."""
    pipe = ChunkPipe()
    upload = asyncio.create_task(store.put_stream(key, pipe, content_type=content_type))  # type: ignore[arg-type]
    try:
        async for block in blocks:
            if upload.done():
                break
            await pipe.feed(block)
        await pipe.feed(_END)
    except BaseException as exc:
        await pipe.feed(RuntimeError("upload interrupted"))
        # The interruption's own error is the one that matters, not the client's reaction to it.
        with contextlib.suppress(Exception):
            await upload
        raise exc
    await upload


async def object_sha256(store: ObjectStore, key: str) -> str | None:
    """The SHA-256 of the stored object, read as a stream; None when the object is missing."""

    def digest() -> str | None:
        try:
            response = store.client.get_object(store.bucket, key)
        except Exception:
            return None
        try:
            sha = hashlib.sha256()
            for chunk in response.stream(_BLOCK):
                sha.update(chunk)
            return sha.hexdigest()
        finally:
            response.close()
            response.release_conn()

    return await asyncio.to_thread(digest)


async def make_thumbnail(store: ObjectStore, key: str, thumbnail_key: str, *, max_px: int) -> bool:
    """A JPEG thumbnail of a stored image; False when the image cannot be decoded (it is kept without one)."""

    def build() -> bool:
        response = store.client.get_object(store.bucket, key)
        try:
            # Spooled: a large photo goes to a temporary file, not to memory.
            with tempfile.SpooledTemporaryFile(max_size=8 * _BLOCK) as spool:
                for chunk in response.stream(_BLOCK):
                    spool.write(chunk)
                spool.seek(0)
                try:
                    with Image.open(spool) as image:
                        image.draft("RGB", (max_px, max_px))
                        image.thumbnail((max_px, max_px))
                        out = io.BytesIO()
                        image.convert("RGB").save(out, "JPEG", quality=80)
                except (OSError, Image.DecompressionBombError, ValueError):
                    return False
        finally:
            response.close()
            response.release_conn()
        size = out.tell()
        out.seek(0)
        store.client.put_object(store.bucket, thumbnail_key, out, size, content_type="image/jpeg")
        return True

    return await asyncio.to_thread(build)


async def stream_object(store: ObjectStore, key: str) -> AsyncIterator[bytes]:
    response = await asyncio.to_thread(store.client.get_object, store.bucket, key)
    try:
        while True:
            chunk = await asyncio.to_thread(response.read, 256 * 1024)
            if not chunk:
                break
            yield chunk
    finally:
        response.close()
        response.release_conn()


async def remove_objects(store: ObjectStore, keys: Sequence[str]) -> int:
    """Remove objects by key; removing one that is already gone is no error (replays are harmless)."""
    from minio.deleteobjects import DeleteObject

    if not keys:
        return 0

    def remove() -> int:
        errors = list(store.client.remove_objects(store.bucket, [DeleteObject(k) for k in keys]))
        if errors:
            raise RuntimeError(f"{len(errors)} objects could not be removed")
        return len(keys)

    return await asyncio.to_thread(remove)


# --- bytes stored before their row commits -------------------------------------------------------------------

_UNCOMMITTED = "timeline.uncommitted_objects"
_removals: set[asyncio.Task[int]] = set()


def remove_unless_committed(session: AsyncSession, store: ObjectStore, *keys: str) -> None:
    """An upload's bytes reach storage before its row is committed. Should the transaction roll back instead
    (the commit failed, a later step raised), the objects are removed, so storage never keeps bytes that no
    row points to. A process killed between the upload and the commit still leaves them (nothing sweeps the
    bucket for objects without a row yet)."""
    session.sync_session.info.setdefault(_UNCOMMITTED, []).append((store, keys))


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    session.info.pop(_UNCOMMITTED, None)


@sa_event.listens_for(Session, "after_transaction_end")
def _ended_without_commit(session: Session, transaction: SessionTransaction) -> None:
    # Rolled back, or closed after a failed COMMIT (which fires no after_rollback): after_commit had not
    # taken the keys away, so nothing points at these objects.
    if transaction.parent is not None:
        return
    staged = session.info.pop(_UNCOMMITTED, None)
    if not staged:
        return
    loop = asyncio.get_running_loop()
    for store, keys in staged:
        task = loop.create_task(remove_objects(store, list(keys)))
        _removals.add(task)
        task.add_done_callback(_removals.discard)
