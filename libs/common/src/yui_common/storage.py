"""S3-compatible object storage (MinIO in containers, SeaweedFS locally) through the minio client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import BinaryIO

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject

from yui_common.settings import CommonSettings


class ObjectStore:
    """One bucket of one service. The minio client is blocking, so calls run in a worker thread."""

    def __init__(self, settings: CommonSettings, bucket: str | None = None) -> None:
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=3.0, read=60.0),
            retries=urllib3.Retry(total=2, backoff_factor=0.2),
        )
        self.client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region,
            http_client=http,
        )
        self.bucket = bucket or settings.s3_bucket

    async def ensure_bucket(self) -> None:
        def ensure() -> None:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)

        await asyncio.to_thread(ensure)

    async def ready(self) -> bool:
        return await asyncio.to_thread(self.client.bucket_exists, self.bucket)

    async def put_stream(self, key: str, stream: BinaryIO, *, length: int = -1, content_type: str) -> None:
        # length -1 streams in 10 MiB parts, so a large upload is never held whole in memory.
        await asyncio.to_thread(
            self.client.put_object,
            self.bucket,
            key,
            stream,
            length,
            content_type=content_type,
            part_size=10 * 1024 * 1024,
        )

    async def stream(self, key: str, *, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        """The object's bytes a chunk at a time, so a download is never held whole in memory."""
        response = await asyncio.to_thread(self.client.get_object, self.bucket, key)
        try:
            while chunk := await asyncio.to_thread(response.read, chunk_size):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def remove_prefix(self, prefix: str) -> int:
        def remove() -> int:
            names = [
                o.object_name for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
            ]
            errors = list(self.client.remove_objects(self.bucket, (DeleteObject(n) for n in names if n)))
            if errors:
                raise RuntimeError(f"{len(errors)} objects could not be removed")
            return len(names)

        return await asyncio.to_thread(remove)
