"""Where the tests' PostgreSQL, RabbitMQ and S3 come from: configured, testcontainers, or started here.

Chosen by settings (environment):
- ``YUI_TEST_POSTGRES_URL`` / ``YUI_TEST_AMQP_URL`` / ``YUI_S3_ENDPOINT`` point at existing servers;
- otherwise, where a Docker engine answers, testcontainers starts PostgreSQL, RabbitMQ and MinIO;
- otherwise the machine's PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672) are used, each pytest
  worker in its own databases and RabbitMQ virtual host, and SeaweedFS (from PyPI) is started for S3.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Infrastructure:
    postgres_url: str
    amqp_url: str
    amqp_vhost: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    database_prefix: str
    uses_local_rabbitmq: bool
    rabbitmq_container: Any = None

    def control_broker(self, *args: str) -> tuple[int, str]:
        """Run ``rabbitmqctl`` against the tests' broker: this machine's, or inside its container."""
        if self.rabbitmq_container is not None:
            code, output = self.rabbitmq_container.exec(["rabbitmqctl", *args])
            return int(code), output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        result = rabbitmqctl(*args)
        return result.returncode, result.stdout + result.stderr


def docker_engine_available() -> bool:
    if os.environ.get("YUI_TEST_USE_DOCKER", "auto") == "never":
        return False
    docker = shutil.which("docker")
    if not docker:
        return False
    result = subprocess.run([docker, "info"], capture_output=True, timeout=10, check=False)
    return result.returncode == 0


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False)


def ensure_vhost(vhost: str) -> None:
    """A RabbitMQ virtual host per pytest worker, so parallel workers never consume each other's events."""
    rabbitmqctl("add_vhost", vhost)
    result = rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    if result.returncode != 0:
        raise RuntimeError(f"cannot prepare RabbitMQ vhost {vhost}: {result.stderr.strip()}")


def drop_databases(infra: Infrastructure) -> None:
    """Drop the databases this run made: the five services' and the reliability scenarios' own (exact names:
    other runs share the prefix's start)."""
    import asyncio

    import asyncpg

    async def drop() -> None:
        dsn = infra.postgres_url.replace("postgresql+asyncpg://", "postgresql://").rstrip("/") + "/postgres"
        conn = await asyncpg.connect(dsn)
        try:
            for name in (
                "identity",
                "consent",
                "timeline",
                "portal",
                "notify",
                "federation",
                "reliability",
                "reliability_consent",
            ):
                await conn.execute(f'DROP DATABASE IF EXISTS "{infra.database_prefix}{name}" WITH (FORCE)')
        finally:
            await conn.close()

    # A thread of its own: the caller may be inside pytest-asyncio's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, drop()).result(timeout=120)


# What two workers' stacks need of the local broker's open files, with the demo-seed and restore-drill stacks
# beside them (about 740 queues, a few hundred of them durable classic retry queues, each holding handles).
BROKER_OPEN_FILES_NEEDED = 8192


def refuse_a_broker_short_of_file_handles() -> None:
    """Stop at once, saying why, when this machine's RabbitMQ runs with too few open files.

    With Debian's 1,024, RabbitMQ 3.10's file handle cache runs out part-way through the suite, and from then
    on every new connection and queue declaration waits without an error: a suite hung for minutes and then
    failed a thousand tests on events that never arrived. A broker we cannot see (another host) is not checked."""
    limits = None
    for process in Path("/proc").iterdir():
        try:
            argv = (process / "cmdline").read_bytes().split(b"\0")
            # The broker's VM (`beam.smp … -s rabbit boot`), not a rabbitmqctl VM or another Erlang program.
            if (
                process.name.isdigit()
                and argv[0].endswith(b"beam.smp")
                and b"rabbit" in argv
                and b"boot" in argv
            ):
                limits = (process / "limits").read_text()
                break
        except OSError:
            continue
    if limits is None:
        return
    for line in limits.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            if soft != "unlimited" and int(soft) < BROKER_OPEN_FILES_NEEDED:
                raise RuntimeError(
                    f"RabbitMQ on this machine runs with {soft} open files; the suite needs "
                    f"{BROKER_OPEN_FILES_NEEDED} or it hangs part-way. Restart it with more "
                    "(.ci/run does: a limits.d entry for the rabbitmq user, then rabbitmq-server -detached)."
                )


def start(stack: ExitStack, worker_id: str, tmp_root: Path) -> Infrastructure:
    # YUI_TEST_RUN separates concurrent runs on one machine (two developers' suites, a bench beside tests).
    run = os.environ.get("YUI_TEST_RUN", "")
    suffix = (f"_{run}" if run else "") + ("" if worker_id in ("master", "") else f"_{worker_id}")
    prefix = f"yui_test{suffix}_"
    s3_endpoint = os.environ.get("YUI_S3_ENDPOINT")
    s3_access = os.environ.get("YUI_S3_ACCESS_KEY", "yui-dev")
    s3_secret = os.environ.get("YUI_S3_SECRET_KEY", "yui-dev-secret")

    postgres_url = os.environ.get("YUI_TEST_POSTGRES_URL")
    amqp_base = os.environ.get("YUI_TEST_AMQP_URL")
    if (postgres_url is None or amqp_base is None) and docker_engine_available():
        from testcontainers.minio import MinioContainer
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        pg = stack.enter_context(PostgresContainer("postgres:16-alpine", driver="asyncpg"))
        postgres_url = pg.get_connection_url().rsplit("/", 1)[0]
        mq = stack.enter_context(RabbitMqContainer("rabbitmq:3.13-management"))
        amqp_base = f"amqp://guest:guest@{mq.get_container_host_ip()}:{mq.get_exposed_port(5672)}"
        if not s3_endpoint:
            minio = stack.enter_context(MinioContainer())
            config = minio.get_config()
            s3_endpoint, s3_access, s3_secret = config["endpoint"], config["access_key"], config["secret_key"]
        return Infrastructure(
            postgres_url=postgres_url,
            amqp_url=amqp_base + "/",
            amqp_vhost="/",
            s3_endpoint=s3_endpoint,
            s3_access_key=s3_access,
            s3_secret_key=s3_secret,
            database_prefix=prefix,
            uses_local_rabbitmq=False,
            rabbitmq_container=mq,
        )

    postgres_url = postgres_url or "postgresql+asyncpg://postgres@127.0.0.1:5432"
    vhost = f"yui-test{suffix.replace('_', '-')}"
    uses_local = amqp_base is None
    amqp_base = amqp_base or "amqp://guest:guest@127.0.0.1:5672"
    if uses_local:
        refuse_a_broker_short_of_file_handles()
        ensure_vhost(vhost)
    if not s3_endpoint:
        sys.path.insert(0, str(REPO))
        from deploy.local.seaweed import start_seaweedfs

        seaweed = start_seaweedfs(tmp_root / f"seaweedfs{suffix}", s3_port=0)
        stack.callback(seaweed.stop)
        s3_endpoint, s3_access, s3_secret = seaweed.endpoint, seaweed.access_key, seaweed.secret_key
    return Infrastructure(
        postgres_url=postgres_url,
        amqp_url=f"{amqp_base.rstrip('/')}/{quote(vhost, safe='')}",
        amqp_vhost=vhost,
        s3_endpoint=s3_endpoint,
        s3_access_key=s3_access,
        s3_secret_key=s3_secret,
        database_prefix=prefix,
        uses_local_rabbitmq=uses_local,
    )


def export(infra: Infrastructure) -> None:
    """Make every Settings() built from now on point at the test infrastructure."""
    os.environ.update(
        {
            "YUI_POSTGRES_URL": infra.postgres_url,
            "YUI_DATABASE_PREFIX": infra.database_prefix,
            "YUI_AMQP_URL": infra.amqp_url,
            "YUI_S3_ENDPOINT": infra.s3_endpoint,
            "YUI_S3_ACCESS_KEY": infra.s3_access_key,
            "YUI_S3_SECRET_KEY": infra.s3_secret_key,
            "YUI_RETRY_DELAYS_MS": "[200,400,800]",
            "YUI_OUTBOX_POLL_INTERVAL_S": "0.5",
            "YUI_WORKER_METRICS_PORT": "0",
            # Each pytest worker runs ten processes' worth of pools in one process: keep them small so two
            # workers stay well inside PostgreSQL's default 100 connections.
            "YUI_DATABASE_POOL_SIZE": "2",
            "YUI_DATABASE_MAX_OVERFLOW": "6",
        }
    )
    for svc in ("IDENTITY", "CONSENT", "TIMELINE", "PORTAL", "NOTIFY"):
        os.environ[f"YUI_{svc}_WORKER_METRICS_PORT"] = "0"
