"""Federation catch-up benchmark (issue 12): 1,000 messages queued while the peer deployment is down, time from its
restart to all applied, side by side with delivering the same 1,000 to it while it is up.

Two separate deployments on this machine, each as real processes behind its own nginx (tests/support/two_stacks.py:
own databases, vhost, SeaweedFS, CA and ports), with an agreement between a's ``demo`` and b's ``tonari`` made by
their operators through the gateways. Then:
  live     b up: a stages ``--messages`` audit-head messages (federation's sending.stage at a's database, in
           transactions of 100) and the clock runs from the first commit until b's cursor covers them all;
  catch-up b's federation API and worker killed (SIGKILL), the same number staged, b restarted: the clock runs from
           the restart until all are applied (b's start-up, a's next retry and the delivery itself).
Every message goes through both gateways with mutual TLS, is checked and applied in order at b. a's delivery back-off
is capped at 2 s (as in the tests); a deployment's default cap is 300 s, which would add up to that to the catch-up.
Prints both figures and their ratio; raw numbers go to bench/results/federation_catchup-<timestamp>.json.
Run: ``uv run python bench/federation_catchup.py [--messages 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bus import write_results  # noqa: E402

from tests.support.federation_peers import accepted_agreement, rows, stage_audit_heads  # noqa: E402
from tests.support.two_stacks import Deployment, TwoStacks, two_deployments, wait_for  # noqa: E402


async def applied_through(deployment: Deployment, tenant: str, source: str) -> int:
    found = await rows(
        deployment,
        "SELECT applied_through FROM receive_cursors WHERE tenant = $1 AND source = $2",
        tenant,
        source,
    )
    return int(found[0]["applied_through"]) if found else 0


async def until_applied(b: Deployment, source: str, target: int) -> None:
    async def done() -> bool:
        return await applied_through(b, "tonari", source) >= target

    await wait_for(done, timeout=900, interval=0.05, what=f"b to apply through {target}")


async def measure(stacks: TwoStacks, messages: int) -> dict[str, Any]:
    a, b = stacks.a, stacks.b
    agreement = await accepted_agreement(a, "demo", b, "tonari")
    source = a.source("demo")

    start = await applied_through(b, "tonari", source)
    began = time.perf_counter()
    await stage_audit_heads(a, "demo", agreement, messages)
    staged_live = time.perf_counter() - began
    await until_applied(b, source, start + messages)
    live = time.perf_counter() - began

    b.stop_federation()
    start = await applied_through(b, "tonari", source)
    began = time.perf_counter()
    await stage_audit_heads(a, "demo", agreement, messages)
    staged_down = time.perf_counter() - began
    await asyncio.sleep(3)  # a's worker meets the dead peer and backs off, as it would
    restarted = time.perf_counter()
    await b.restart_federation()
    ready = time.perf_counter() - restarted
    await until_applied(b, source, start + messages)
    catch_up = time.perf_counter() - restarted
    return {
        "messages": messages,
        "live_s": round(live, 3),
        "live_staging_s": round(staged_live, 3),
        "live_per_s": round(messages / live, 1),
        "catch_up_s": round(catch_up, 3),
        "catch_up_restart_s": round(ready, 3),
        "catch_up_staging_s": round(staged_down, 3),
        "catch_up_per_s": round(messages / catch_up, 1),
        "ratio_catch_up_to_live": round(catch_up / live, 2),
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="yui-bench-federation-") as root,
        two_deployments(Path(root), label="bench") as stacks,
    ):
        result = asyncio.run(measure(stacks, args.messages))
    path = write_results(result, "federation_catchup")
    n = result["messages"]
    print(f"\nFederation between two deployments, {n} audit-head messages a → b through both gateways (mTLS)")
    print(f"{'':32}{'seconds':>10}{'messages/s':>12}")
    print(f"{'live (b up)':32}{result['live_s']:>10.2f}{result['live_per_s']:>12.1f}")
    print(f"{'catch-up (from b restart)':32}{result['catch_up_s']:>10.2f}{result['catch_up_per_s']:>12.1f}")
    print(f"  of which b's start until ready {result['catch_up_restart_s']:.2f} s")
    print(f"ratio catch-up / live: {result['ratio_catch_up_to_live']:.2f}  (raw: {path.relative_to(REPO)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
