"""Upload benchmark: a 100 MB attachment through the timeline API against a raw S3 PUT of the same bytes,
and the API process's peak memory for 10 MB and 100 MB uploads (it should not grow with the file).

The API runs as its own process (``python -m timeline api``, uvicorn), so its memory is its own; the raw PUT
is the minio client's ``fput_object`` from this process to the same S3 store (SeaweedFS started here unless
YUI_S3_ENDPOINT names one). A tiny JWKS server in this process lets the API verify the bench token.
Run: ``.venv/bin/python bench/timeline_upload.py [--megabytes 100] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
from identity import tokens
from minio import Minio
from timeline.settings import Settings
from yui_common.db import asyncpg_dsn
from yui_common.migrations import migrate

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
RATIO_TARGET = 0.8
PREFIX = "yui_benchup_"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_jwks(jwks: dict[str, Any]) -> str:
    body = json.dumps(jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/jwks.json"


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def sample_file(directory: Path, megabytes: int) -> Path:
    path = directory / f"sample-{megabytes}mb.pdf"
    with path.open("wb") as out:
        # Decimal megabytes: a "100 MB" file fits the default limit of 100 MiB.
        out.write(b"%PDF-1.7\n")
        for _ in range(megabytes):
            out.write(os.urandom(1_000_000))
    return path


async def upload_through_api(base: str, token: str, subject_id: Any, path: Path) -> float:
    async def chunks() -> Any:
        with path.open("rb") as handle:
            while block := handle.read(1024 * 1024):
                yield block

    size = path.stat().st_size  # noqa: ASYNC240 - one stat before the clock starts
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        started = time.perf_counter()
        response = await client.post(
            f"/subjects/{subject_id}/attachments",
            params={"filename": path.name},
            content=chunks(),
            headers={"Authorization": f"Bearer {token}", "Content-Length": str(size)},
        )
        elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
    return elapsed


def raw_put(client: Minio, bucket: str, path: Path) -> float:
    started = time.perf_counter()
    client.fput_object(
        bucket, f"raw/{uuid4()}", str(path), content_type="application/pdf", part_size=10 * 1024**2
    )
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="yui-bench-upload-"))
    seaweed = None
    if not os.environ.get("YUI_S3_ENDPOINT"):
        sys.path.insert(0, str(REPO))
        from deploy.local.seaweed import start_seaweedfs

        seaweed = start_seaweedfs(work / "seaweedfs", s3_port=0, volume_size_limit_mb=1024)
        os.environ.update(
            {
                "YUI_S3_ENDPOINT": seaweed.endpoint,
                "YUI_S3_ACCESS_KEY": seaweed.access_key,
                "YUI_S3_SECRET_KEY": seaweed.secret_key,
            }
        )
    settings = Settings(database_prefix=PREFIX, signing_key_file=REPO / ".run" / "bench-signing-key.pem")
    conn = await asyncpg.connect(asyncpg_dsn(settings.postgres_url.rstrip("/") + "/postgres"))
    await conn.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')
    await conn.close()
    await asyncio.to_thread(migrate, REPO / "services" / "timeline", settings)

    key = tokens.new_signing_key()
    user, subject_id = uuid4(), uuid4()
    token = tokens.sign_access_token(
        key,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        user_id=user,
        tenant="bench",
        facility_id=uuid4(),
        roles=["staff"],
        name="bench",
        ttl_s=3600,
    )
    conn = await asyncpg.connect(asyncpg_dsn(settings.dsn))
    await conn.execute(
        "INSERT INTO subject_access (subject_id, tenant, consent_active) VALUES ($1, 'bench', true)",
        subject_id,
    )
    await conn.execute(
        "INSERT INTO care_team_members (subject_id, user_id, tenant) VALUES ($1, $2, 'bench')",
        subject_id,
        user,
    )
    await conn.close()

    port = free_port()
    env = {
        **os.environ,
        "YUI_DATABASE_PREFIX": PREFIX,
        "YUI_JWKS_URL": serve_jwks({"keys": [tokens.public_jwk(key)]}),
        "YUI_TIMELINE_SIGNING_KEY_FILE": str(settings.signing_key_file),
        "YUI_LOG_LEVEL": "WARNING",
    }
    api = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
        [sys.executable, "-m", "timeline", "api", "--host", "127.0.0.1", "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:  # noqa: ASYNC210 - waiting for start
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        result: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "s3": settings.s3_endpoint,
            "api_memory_after_start_kib": memory_kib(api.pid),
        }
        # VmHWM is the process's peak so far: growing sizes show whether the peak follows the file size.
        # The minio client buffers up to its parallel parts (3 x 10 MiB) plus the one being read, so the
        # peak rises until an upload spans several parts and stays flat after that.
        large = sample_file(work, args.megabytes)
        for megabytes in (10, args.megabytes // 2):
            await upload_through_api(base, token, subject_id, sample_file(work, megabytes))
            result[f"api_peak_after_{megabytes}mb_kib"] = memory_kib(api.pid)["VmHWM"]
        api_times = [await upload_through_api(base, token, subject_id, large) for _ in range(args.repeat)]
        result[f"api_peak_after_{args.megabytes}mb_kib"] = memory_kib(api.pid)["VmHWM"]

        raw = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=False,
        )
        bucket = settings.s3_bucket
        raw_times = [await asyncio.to_thread(raw_put, raw, bucket, large) for _ in range(args.repeat)]
        size_mb = large.stat().st_size / 1e6
        api_mb_s = size_mb / statistics.median(api_times)
        raw_mb_s = size_mb / statistics.median(raw_times)
        result.update(
            {
                "file_mb": round(size_mb, 1),
                "api_seconds": [round(t, 2) for t in api_times],
                "raw_put_seconds": [round(t, 2) for t in raw_times],
                "api_mb_per_s": round(api_mb_s, 1),
                "raw_mb_per_s": round(raw_mb_s, 1),
                "throughput_ratio": round(api_mb_s / raw_mb_s, 3),
                "throughput_ratio_target": RATIO_TARGET,
                "peak_growth_half_to_full_size_kib": result[f"api_peak_after_{args.megabytes}mb_kib"]
                - result[f"api_peak_after_{args.megabytes // 2}mb_kib"],
            }
        )
    finally:
        api.terminate()
        api.wait(10)
        if seaweed is not None:
            seaweed.stop()
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"timeline-upload-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
