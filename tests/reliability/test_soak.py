"""rel1, shortened: 75 s of mixed load through a worker's SIGKILL, a broker restart and a database restart, then
every invariant. The long form (five minutes, three rounds of faults) is bench/soak.py; both run
tests/reliability/soak/scenario.py.

Not ``serial``: the soak restarts only its own PostgreSQL cluster and RabbitMQ node, never the shared ones.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.reliability.soak.deployment import S3Store
from tests.reliability.soak.scenario import run_soak
from tests.support.infrastructure import Infrastructure

LOAD_SECONDS = 75.0
# Setup (two servers, ten processes on a shared 2-core machine) ≈ 2 min, drain up to 5 min, teardown ≈ 1 min.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


class TestSoak:
    async def test_rel1_mixed_load_through_worker_kill_broker_and_database_restarts_keeps_every_invariant(
        self, infra: Infrastructure, tmp_path: Path, worker_id: str
    ) -> None:
        if os.geteuid() != 0:
            pytest.fail("the soak creates a PostgreSQL cluster and a RabbitMQ node of its own: it needs root")
        run = os.environ.get("YUI_TEST_RUN", "") or "suite"
        name = run if worker_id in ("master", "") else f"{run}_{worker_id}"
        result = await run_soak(
            seconds=LOAD_SECONDS,
            workdir=tmp_path,
            name=name,
            s3=S3Store(infra.s3_endpoint, infra.s3_access_key, infra.s3_secret_key),
        )
        print(result.report())
        if not result.held:
            # pytest's tmp_path is rotated away by later runs: keep the ten services' logs where a reader finds them.
            kept = Path(tempfile.gettempdir()) / f"yui-soak-{name}-{time.strftime('%Y%m%dT%H%M%S')}"
            shutil.copytree(tmp_path / "logs", kept / "logs", dirs_exist_ok=True)
            print(f"service logs kept in {kept / 'logs'}")

        assert [f["fault"].split()[0] for f in result.faults] == ["SIGKILL", "RabbitMQ", "PostgreSQL"]
        # The load did happen: each kind of write was acknowledged at least once.
        assert all(result.acknowledged[kind] for kind in ("posts", "files", "withdrawals", "suspensions")), (
            result.report()
        )
        assert result.held, result.report()
