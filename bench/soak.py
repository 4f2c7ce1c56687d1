"""rel1's long form: five minutes of mixed load while a worker is SIGKILLed and RabbitMQ and PostgreSQL
restart, then every invariant (tests/reliability/soak/: the suite runs the same scenario for about 75 s).

Nothing shared is touched: the soak creates its own PostgreSQL cluster (``pg_createcluster``), RabbitMQ node and
SeaweedFS, runs every service's API and worker as processes on them, and removes all of it at the end. Needs root
(postgresql-common and a second RabbitMQ node), as `make test` on our machines has.
Run: ``uv run python bench/soak.py [--seconds 300] [--actors 4]``. Prints the faults, the requests' outcomes and
each invariant; raw numbers go to bench/results/soak-<timestamp>.json. Exit status 1 when an invariant broke.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bus import write_results  # noqa: E402

from tests.reliability.soak.scenario import run_soak  # noqa: E402


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=300.0, help="seconds of load (default 300)")
    parser.add_argument("--actors", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (service logs) afterwards"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    workdir = Path(tempfile.mkdtemp(prefix="yui-bench-soak-"))
    # A run of its own name, so a suite's soak (named after its test run) may run beside it.
    result = asyncio.run(run_soak(seconds=args.seconds, workdir=workdir, name="bench", actors=args.actors))
    body = {
        "benchmark": "soak",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        **result.as_json(),
    }
    path = write_results(body, "soak")
    print(result.report())
    print(f"\nraw numbers: {path}")
    if result.held and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"service logs kept in {workdir / 'logs'}")
    return 0 if result.held else 1


if __name__ == "__main__":
    sys.exit(main())
