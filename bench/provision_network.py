"""Provisioning a network end to end from the command line (issue 11's measure): from starting
``python -m identity network create …`` until every service knows the network.

"Knows" means: each of identity, consent, timeline, notify and the portal holds the network in its
``network_states`` projection (so it refuses or serves the network's tokens by its status, and applies its
rules), consent holds its municipalities (C1) and the portal has published its first terms of use from the
template. Each of ``--networks`` networks (default 5) is created by a new CLI process, as an operator's script
would; the wait polls every service's database every ``--poll-ms`` (default 10) from the moment the CLI
process is started. The figures: the CLI process alone (Python start-up, the transaction, the one-time
password hashing), and the whole (until the last service knows), p50 and max.

The stack is the in-process one the tests use (tests/support/stack.py: every service's API and worker in this
process, on real PostgreSQL and RabbitMQ), isolated as test run ``bench_provision``. Raw numbers go to
bench/results/provision_network-<timestamp>.json (and provision_network-baseline.json).
Run: ``uv run python bench/provision_network.py [--networks 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bus import write_results  # noqa: E402
from sqlalchemy import text  # noqa: E402

from tests.support import infrastructure  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

SERVICES = ("identity", "consent", "timeline", "notify", "portal")


async def known_by(stack: Stack, slug: str) -> set[str]:
    """The places that know the network already (each service's projection, consent's C1, the portal's terms)."""
    found = set()
    for svc in SERVICES:
        async with stack[svc].sessionmaker() as session:
            if (
                await session.execute(text("SELECT 1 FROM network_states WHERE tenant = :t"), {"t": slug})
            ).first():
                found.add(svc)
    async with stack["consent"].sessionmaker() as session:
        if (
            await session.execute(text("SELECT 1 FROM network_municipalities WHERE tenant = :t"), {"t": slug})
        ).first():
            found.add("consent-municipalities")
    async with stack["portal"].sessionmaker() as session:
        if (
            await session.execute(text("SELECT 1 FROM terms_versions WHERE tenant = :t"), {"t": slug})
        ).first():
            found.add("portal-terms")
    return found


EVERYWHERE = {*SERVICES, "consent-municipalities", "portal-terms"}


async def provision_one(stack: Stack, number: int, poll_s: float) -> dict[str, float]:
    slug = f"bench-net-{number:03d}-{os.getpid()}"
    command = [
        sys.executable, "-m", "identity", "network", "create", "--slug", slug,
        "--name", f"ベンチ {number} 在宅ネット", "--municipality", "082171", "--municipality", "082244",
        "--operator-office", "ベンチ市 福祉課", "--operator-login-id", "operator", "--operator-name", "運営 太郎",
    ]  # fmt: skip
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    cli_s: float | None = None
    cli_cpu_s = 0.0
    seen_at: dict[str, float] = {}
    deadline = started + 120
    while time.perf_counter() < deadline:
        if cli_s is None and process.returncode is not None:
            cli_s = time.perf_counter() - started
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            # The CPU the CLI process used: on a loaded machine its wall time is mostly waiting for a core.
            cli_cpu_s = (children.ru_utime - children_before.ru_utime) + (
                children.ru_stime - children_before.ru_stime
            )
            if process.returncode != 0:
                raise RuntimeError(f"network create failed: {(await process.stderr.read()).decode()}")  # type: ignore[union-attr]
        elif cli_s is None:
            with suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout=poll_s)
            continue
        for place in await known_by(stack, slug) - seen_at.keys():
            seen_at[place] = time.perf_counter() - started
        if seen_at.keys() >= EVERYWHERE:
            return {
                "cli_s": cli_s,
                "cli_cpu_s": cli_cpu_s,
                "everywhere_s": max(seen_at.values()),
                **{f"{k}_s": v for k, v in seen_at.items()},
            }
        await asyncio.sleep(poll_s)
    raise RuntimeError(f"{slug}: not known everywhere after 120 s (known: {sorted(seen_at)})")


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_s": round(statistics.median(values), 3), "max_s": round(max(values), 3)}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as exits, tempfile.TemporaryDirectory(prefix="yui-bench-provision-") as tmp:
        found = infrastructure.start(exits, "master", Path(tmp))
        if found.uses_local_rabbitmq:
            infrastructure.rabbitmqctl("delete_vhost", found.amqp_vhost)
            infrastructure.ensure_vhost(found.amqp_vhost)
        infrastructure.export(found)
        stack = Stack()
        await stack.start()
        try:
            runs = [await provision_one(stack, n, args.poll_ms / 1000) for n in range(1, args.networks + 1)]
        finally:
            await stack.close()
            if found.uses_local_rabbitmq:
                infrastructure.rabbitmqctl("delete_vhost", found.amqp_vhost)
                infrastructure.drop_databases(found)
    return {
        "benchmark": "provision_network",
        "networks": args.networks,
        "cli": summary([r["cli_s"] for r in runs]),
        "cli_cpu": summary([r["cli_cpu_s"] for r in runs]),
        "load_average_1m": os.getloadavg()[0],
        "everywhere": summary([r["everywhere_s"] for r in runs]),
        "after_cli": summary([r["everywhere_s"] - r["cli_s"] for r in runs]),
        "runs": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--networks", type=int, default=5)
    parser.add_argument("--poll-ms", type=float, default=10.0)
    args = parser.parse_args()
    os.environ.setdefault("YUI_TEST_RUN", "bench_provision")
    os.environ.setdefault("YUI_LOG_LEVEL", "WARNING")
    result = asyncio.run(measure(args))
    path = write_results(result, "provision_network")
    print(
        f"network create (CLI process): p50 {result['cli']['p50_s']:.2f} s, max {result['cli']['max_s']:.2f} s "
        f"(CPU p50 {result['cli_cpu']['p50_s']:.2f} s; load average {result['load_average_1m']:.1f} on "
        f"{os.cpu_count()} cores)\n"
        f"until every service knows the network: p50 {result['everywhere']['p50_s']:.2f} s, "
        f"max {result['everywhere']['max_s']:.2f} s "
        f"(after the CLI returned: p50 {result['after_cli']['p50_s']:.3f} s)\n"
        f"raw: {path.relative_to(REPO)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
