"""Where seal heads live outside the service's database: one write-once S3 object per seal."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from minio.commonconfig import GOVERNANCE
from minio.error import S3Error
from minio.retention import Retention
from sqlalchemy.engine import make_url

from yui_common.settings import CommonSettings
from yui_common.storage import ObjectStore

log = logging.getLogger(__name__)


class SealExportConflictError(Exception):
    """The store already holds a different head under this seal's number: it is never overwritten."""


def log_name(settings: CommonSettings) -> str:
    """Names one audit log: the service and its database (tests and restores run several of one service)."""
    database = make_url(settings.dsn).database or settings.database_name
    return f"{settings.service_name}/{database}"


class SealHeads:
    """``audit-seals/<service>/<database>/<seal number>.json`` in the audit-seal bucket.

    The bucket is created with S3 object lock where the store supports it (MinIO, AWS), and each head is
    then kept for ``audit_seal_retention_days`` in governance mode; where it does not (SeaweedFS), heads are
    still written once only (an existing object is never replaced) and a log line says the lock is missing.
    """

    def __init__(self, settings: CommonSettings, *, store: ObjectStore | None = None) -> None:
        self.store = store or ObjectStore(settings, bucket=settings.audit_seal_bucket)
        self.log = log_name(settings)
        self.prefix = f"audit-seals/{self.log}/"
        self.retention_days = settings.audit_seal_retention_days
        self.object_lock: bool | None = None  # known after ensure_bucket()

    def key(self, number: int) -> str:
        # Zero-padded, so the store lists seals in number order.
        return f"{self.prefix}{number:012d}.json"

    async def ensure_bucket(self) -> None:
        if self.object_lock is not None:
            return
        self.object_lock = await asyncio.to_thread(self._ensure_bucket)
        if not self.object_lock:
            log.warning(
                "the object store has no object lock for %s: seal heads are written once but not locked",
                self.store.bucket,
            )

    def _ensure_bucket(self) -> bool:
        client, bucket = self.store.client, self.store.bucket
        if not client.bucket_exists(bucket):
            try:
                client.make_bucket(bucket, object_lock=True)
            except S3Error:
                if not client.bucket_exists(bucket):
                    client.make_bucket(bucket)
        try:
            config = client.get_object_lock_config(bucket)
        except S3Error:
            return False
        return config is not None

    async def put(self, document: dict[str, Any]) -> None:
        """Write a seal's head once; the same head again is a no-op, a different one is refused."""
        await self.ensure_bucket()
        key = self.key(int(document["number"]))
        existing = await self.get(int(document["number"]))
        if existing is not None:
            if existing.get("head") != document["head"]:
                raise SealExportConflictError(f"{key} already holds another head")
            return
        body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        retention = (
            Retention(GOVERNANCE, datetime.now(UTC) + timedelta(days=self.retention_days))
            if self.object_lock
            else None
        )
        await asyncio.to_thread(
            self.store.client.put_object,
            self.store.bucket,
            key,
            io.BytesIO(body),
            len(body),
            content_type="application/json",
            retention=retention,
        )

    async def get(self, number: int) -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            try:
                response = self.store.client.get_object(self.store.bucket, self.key(number))
            except S3Error as error:
                if error.code in ("NoSuchKey", "NoSuchBucket"):
                    return None
                raise
            try:
                loaded: dict[str, Any] = json.loads(response.read())
                return loaded
            finally:
                response.close()
                response.release_conn()

        return await asyncio.to_thread(read)

    async def numbers_after(self, number: int) -> list[int]:
        """The exported seal numbers above ``number``."""

        def listed() -> list[int]:
            try:
                objects = self.store.client.list_objects(
                    self.store.bucket, prefix=self.prefix, start_after=self.key(number)
                )
                names = [o.object_name or "" for o in objects]
            except S3Error as error:
                if error.code == "NoSuchBucket":
                    return []
                raise
            return sorted(
                int(name.removeprefix(self.prefix).removesuffix(".json"))
                for name in names
                if name.endswith(".json")
            )

        return await asyncio.to_thread(listed)

    async def newest_at_or_below(self, number: int) -> int | None:
        """The newest exported seal number not above ``number``: usually ``number`` itself (one read), else
        found by listing (a failed export left a few seals behind)."""
        if number <= 0:
            return None
        if await self.get(number) is not None:
            return number
        below = [n for n in await self.numbers_after(0) if n <= number]
        return max(below) if below else None
