"""Attachments' bytes in object storage: streamed or spooled uploads, downloads opened before they are answered,
hashing, listing, removal."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import itertools
import queue
import tempfile
from collections.abc import AsyncIterator, Sequence
from functools import lru_cache
from typing import IO, Any

import urllib3
from minio.error import S3Error
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction
from urllib3 import BaseHTTPResponse
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


async def spool(stream: UploadStream, head: bytes, rest: AsyncIterator[bytes]) -> IO[bytes]:
    """The whole upload in a temporary file (spilled to disk past a few MiB), for the checks that need all of
    it before anything is stored: an image's re-encoding, an office archive's central directory at its end.
    Counted against the size limit as it arrives. The caller closes it."""
    file = tempfile.SpooledTemporaryFile(max_size=8 * _BLOCK)  # noqa: SIM115 (returned open)
    try:
        async for block in stream.blocks(head, rest):
            await asyncio.to_thread(file.write, block)
    except BaseException:
        file.close()
        raise
    file.seek(0)
    return file  # type: ignore[return-value]


async def put_file(store: ObjectStore, key: str, file: IO[bytes], *, length: int, content_type: str) -> None:
    await store.put_stream(key, file, length=length, content_type=content_type)  # type: ignore[arg-type]


async def put_bytes(store: ObjectStore, key: str, data: bytes, *, content_type: str) -> None:
    await put_file(store, key, io.BytesIO(data), length=len(data), content_type=content_type)


class ObjectMissingError(Exception):
    """The store answered, and the object is not there."""


class StoreUnavailableError(Exception):
    """The store could not be reached or did not answer the request for an object."""


async def open_object(store: ObjectStore, key: str) -> BaseHTTPResponse:
    """The object's response, its body not yet read: opened before a download's 200 is sent, so a missing
    object or an unreachable store is an error status, not a 200 cut off after its headers. The caller reads
    it with ``stream_opened``, which closes it."""
    try:
        return await asyncio.to_thread(store.client.get_object, store.bucket, key)
    except S3Error as error:
        if error.code in {"NoSuchKey", "NoSuchBucket"}:
            raise ObjectMissingError(key) from error
        raise StoreUnavailableError(error.code) from error
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise StoreUnavailableError(type(error).__name__) from error


async def stream_opened(response: BaseHTTPResponse) -> AsyncIterator[bytes]:
    """The opened object's bytes in 256 KiB chunks; the connection is released however the stream ends."""
    try:
        while True:
            chunk = await asyncio.to_thread(response.read, 256 * 1024)
            if not chunk:
                break
            yield chunk
    finally:
        response.close()
        response.release_conn()


async def list_objects(store: ObjectStore, *, prefix: str = "", page: int = 1000) -> AsyncIterator[list[Any]]:
    """Every object under prefix (name and last_modified), a page at a time: the bucket may hold millions."""
    listing = store.client.list_objects(store.bucket, prefix=prefix, recursive=True)
    while True:
        found = await asyncio.to_thread(lambda: list(itertools.islice(listing, page)))
        if not found:
            return
        yield found


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
    row points to. A process killed between the upload and the commit leaves them: the worker's sweep
    (attachments.sweep) removes them after a grace period."""
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
