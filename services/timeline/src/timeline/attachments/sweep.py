"""The sweep of stored objects no attachment row references: bytes whose upload stored them and then died
before its commit (a SIGKILL, an out-of-memory kill, a lost node), which the rollback hook never saw. Never
commits; the worker's job runs it page by page (worker.sweep_unreferenced_uploads)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from minio.error import S3Error
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit
from yui_common.storage import ObjectStore

from timeline import objects
from timeline.attachments import repository

# The keys uploads write (Board.object_prefix + attachment id, and its thumbnail): nothing else is touched.
_UPLOAD_KEY = re.compile(
    r"^(?P<tenant>[^/]+)/(?P<kind>subjects|groups)/(?P<board>[0-9a-f-]{36})/[0-9a-f-]{36}(\.thumb\.jpg)?$"
)


async def listed_pages(store: ObjectStore) -> AsyncIterator[list[Any]]:
    """The bucket's objects a page at a time; none while the bucket does not exist yet (it is made by the
    first upload), as a missing bucket holds nothing to sweep."""
    try:
        async for page in objects.list_objects(store):
            yield page
    except S3Error as error:
        if error.code != "NoSuchBucket":
            raise


def sweepable(listed: Iterable[Any], *, older_than: datetime) -> list[str]:
    """Upload keys among listed objects, stored before ``older_than`` (the grace period covers an upload whose
    bytes are stored and whose row is about to commit)."""
    return [
        item.object_name
        for item in listed
        if item.object_name
        and _UPLOAD_KEY.match(item.object_name)
        and item.last_modified is not None
        and item.last_modified < older_than
    ]


async def remove_unreferenced(session: AsyncSession, store: ObjectStore, *, keys: list[str]) -> int:
    """Remove those of ``keys`` no attachment row references (file or thumbnail), audited per board."""
    referenced = await repository.referenced_keys(session, keys=keys)
    orphans = [key for key in keys if key not in referenced]
    if not orphans:
        return 0
    await objects.remove_objects(store, orphans)
    per_board: dict[tuple[str, str, str], int] = {}
    for key in orphans:
        match = _UPLOAD_KEY.match(key)
        assert match is not None
        board = (match["tenant"], match["kind"], match["board"])
        per_board[board] = per_board.get(board, 0) + 1
    for (tenant, kind, board_id), count in per_board.items():
        await audit.record(
            session,
            tenant=tenant,
            actor_id="system:timeline-upload-sweep",
            subject_id=board_id if kind == "subjects" else None,
            target=f"{kind.removesuffix('s')}:{board_id}",
            action="attachment.unreferenced_removed",
            detail={"objects": count},
        )
    return len(orphans)
