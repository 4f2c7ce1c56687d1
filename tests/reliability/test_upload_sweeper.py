"""rel2: an upload whose process is killed between storing its bytes and committing its row leaves objects no
row references; the worker's sweep removes them after the grace period and touches nothing a row references.

Run as ``python -m tests.reliability.test_upload_sweeper SUBJECT USER TENANT`` (with the test's YUI_*
environment) it is that process: it uploads a photo through timeline's own upload code, prints the object key
and kills itself with SIGKILL just before the COMMIT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import event, text
from timeline.access.service import Board
from timeline.attachments import service
from timeline.integrity.signing import signer_for
from timeline.settings import Settings
from timeline.worker import sweep_unreferenced_uploads
from yui_common.auth import Principal
from yui_common.db import create_engine, create_sessionmaker
from yui_common.storage import ObjectStore

from services.timeline.tests.timeline_support import PDF, create_post, png_bytes, subject_with_team
from tests.support.infrastructure import REPO
from tests.support.stack import Stack


async def stored_keys(stack: Stack, prefix: str) -> set[str]:
    store = stack["timeline"].app.state.object_store

    def names() -> set[str]:
        return {o.object_name for o in store.client.list_objects(store.bucket, prefix=prefix, recursive=True)}

    return await asyncio.to_thread(names)


async def upload_killed_before_commit(stack: Stack, subject_id: UUID, user_id: UUID, tenant: str) -> str:
    """Run the dying upload in a real subprocess; the key its bytes were stored under."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.reliability.test_upload_sweeper",
        str(subject_id),
        str(user_id),
        tenant,
        cwd=REPO,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == -signal.SIGKILL, err.decode()[-2000:]
    return out.decode().split()[-1]


class TestUploadSweep:
    async def test_rel2_an_upload_killed_before_its_commit_is_swept_and_referenced_objects_stay(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        client = stack["timeline"].client
        prefix = f"{nurse.tenant}/subjects/{subject_id}/"
        # Referenced: a photo (with its thumbnail) attached to a post, and an upload not attached yet.
        photo = await client.post(
            f"/subjects/{subject_id}/attachments",
            params={"filename": "wound.png"},
            content=png_bytes(),
            headers=nurse.headers,
        )
        pending = await client.post(
            f"/subjects/{subject_id}/attachments",
            params={"filename": "a.pdf"},
            content=PDF,
            headers=nurse.headers,
        )
        assert photo.status_code == 201 and pending.status_code == 201, (photo.text, pending.text)
        await create_post(stack, nurse, subject_id, "写真です", attachment_ids=[photo.json()["id"]])
        referenced = await stored_keys(stack, prefix)
        assert len(referenced) == 3

        orphan = await upload_killed_before_commit(stack, subject_id, nurse.user_id, nurse.tenant)
        assert orphan.startswith(prefix)
        assert await stored_keys(stack, prefix) == referenced | {orphan, f"{orphan}.thumb.jpg"}
        async with stack["timeline"].sessionmaker() as session:
            rows = await session.execute(
                text("SELECT count(*) FROM attachments WHERE subject_id = :s"), {"s": subject_id}
            )
            assert rows.scalar() == 2  # the killed upload's row never committed

        worker = stack["timeline"].worker
        assert worker is not None
        settings: Any = worker.settings
        # Within the grace period (default an hour) the sweep leaves it: its row might be about to commit.
        await sweep_unreferenced_uploads(worker)
        assert orphan in await stored_keys(stack, prefix)

        settings.upload_sweep_grace_s = 1.0
        try:
            await asyncio.sleep(2.0)  # waiting past the grace period is the scenario, not a speed threshold
            await sweep_unreferenced_uploads(worker)
        finally:
            settings.upload_sweep_grace_s = 3600.0
        assert await stored_keys(stack, prefix) == referenced
        for attachment in (photo.json(), pending.json()):
            streamed = await client.get(f"/attachments/{attachment['id']}/content", headers=nurse.headers)
            assert streamed.status_code == 200 and len(streamed.content) == attachment["size"]
        async with stack["timeline"].sessionmaker() as session:
            swept = await session.execute(
                text(
                    "SELECT detail->>'objects' FROM audit_log WHERE action = 'attachment.unreferenced_removed' "
                    "AND subject_id = :s"
                ),
                {"s": str(subject_id)},
            )
            assert swept.scalars().all() == ["2"]

    async def test_rel1_a_bucket_no_upload_has_made_yet_is_nothing_to_sweep(self, stack: Stack) -> None:
        """The soak found the sweep job failing on a fresh deployment: the bucket is made by the first upload."""
        worker = stack["timeline"].worker
        assert worker is not None
        # The job as the worker runs it, with settings naming a bucket nothing has made (the bucket's name
        # follows the database prefix).
        settings = worker.settings.model_copy(
            update={"database_prefix": f"never_uploaded_{uuid4().hex[:8]}_"}
        )
        fresh = SimpleNamespace(settings=settings, sessionmaker=worker.sessionmaker)
        store = ObjectStore(settings)
        assert not await asyncio.to_thread(store.client.bucket_exists, store.bucket)

        await sweep_unreferenced_uploads(fresh)  # type: ignore[arg-type]

        assert not await asyncio.to_thread(store.client.bucket_exists, store.bucket)


# ---------------------------------------------------------------- the process that dies before its commit


async def _upload_then_die(subject_id: UUID, user_id: UUID, tenant: str) -> None:
    settings = Settings()
    sessionmaker = create_sessionmaker(create_engine(settings))

    async def chunks() -> AsyncIterator[bytes]:
        yield png_bytes(640, 480)

    async with sessionmaker() as session, session.begin():
        attachment = await service.upload_attachment(
            session,
            principal=Principal(
                user_id=user_id, tenant=tenant, facility_id=uuid4(), roles=frozenset({"staff"})
            ),
            signer=signer_for(settings),
            store=ObjectStore(settings),
            settings=settings,
            board=Board(tenant, subject_id=subject_id),
            filename="wound.png",
            declared_length=None,
            chunks=chunks(),
        )
        print(attachment.object_key, flush=True)
        # The bytes are stored and the row flushed; the process dies as the transaction is about to commit.
        event.listen(session.sync_session, "before_commit", lambda _: os.kill(os.getpid(), signal.SIGKILL))


if __name__ == "__main__":
    asyncio.run(_upload_then_die(UUID(sys.argv[1]), UUID(sys.argv[2]), sys.argv[3]))
