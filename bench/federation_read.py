"""Federation read benchmark (issue 12, fed2): the peer deployment's staff reading a referred subject's timeline
through federation, side by side with the home deployment's own staff reading the same subject at home (target:
the federated read at least 0.5× the home read's requests/s).

Two separate deployments on this machine (tests/support/two_stacks.py: own databases, vhost, SeaweedFS, CA, ports
and nginx gateway; every service a real process), an agreement of a's ``demo`` with b's ``tonari`` that lets
referrals cross, and one subject of a with ``--posts`` visits (posted through timeline's API by a's doctor)
referred to b's clinic. Both reads go through the service APIs, as the portal calls them (neither through the
public gateway, so neither pays the public TLS):
  home       a's doctor: ``GET /subjects/{id}/posts`` on a's timeline API (a page of the newest posts);
  federated  b's nurse: ``GET /referrals/{id}/timeline`` on b's federation API. At every read b's federation signs
             an assertion and asks a through a's gateway's peer port (mutual TLS), a's federation checks agreement,
             referral, consent and the assertion, signs a grant and asks a's timeline; both sides audit, b caches.
``--concurrency`` readers for ``--seconds`` per phase, home and federated alternating for ``--rounds`` rounds (so
a change of the machine's load hits both). Prints requests/s and latency of each and the ratio; raw numbers go to
bench/results/federation_read-<timestamp>.json. Run: ``uv run python bench/federation_read.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import httpx  # noqa: E402
from bus import write_results  # noqa: E402

from tests.support.referral_peers import (  # noqa: E402
    HOME,
    home_subject,
    peer_staff,
    refer,
    referral_agreement,
    shared_at_peer,
    sign_in,
)
from tests.support.two_stacks import TwoStacks, start_care, two_deployments  # noqa: E402

TARGET_RATIO = 0.5


async def phase(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], *, seconds: float, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def reader() -> None:
        nonlocal failures
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            response = await client.get(path, headers=headers)
            if response.status_code == 200:
                latencies.append(time.perf_counter() - began)
            else:
                failures += 1

    began = time.perf_counter()
    await asyncio.gather(*(reader() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    return {
        "requests": len(latencies),
        "failures": failures,
        "seconds": round(elapsed, 3),
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p95_ms": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))] * 1000, 1) if latencies else None,
    }


async def measure(
    stacks: TwoStacks, *, posts: int, seconds: float, rounds: int, concurrency: int
) -> dict[str, Any]:
    a, b = stacks.a, stacks.b
    doctor = await sign_in(a, HOME, "doctor")
    nurse = (await peer_staff(b))["nurse"]
    agreement = await referral_agreement(stacks, {})
    subject = await home_subject(a, doctor, "bench-read")
    async with httpx.AsyncClient(base_url=a.api_url("timeline"), timeout=30) as timeline:
        for number in range(posts - 1):
            response = await timeline.post(
                f"/subjects/{subject.id}/posts",
                json={"category": "visit", "body": f"訪問 {number}: 褥瘡の処置、食事量は半分"},
                headers=doctor,
            )
            assert response.status_code == 201, response.text
    referral = await refer(a, doctor, subject, agreement, categories=["visit"])
    await shared_at_peer(b, nurse, referral["id"])
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    results: dict[str, list[dict[str, Any]]] = {"home": [], "federated": []}
    async with (
        httpx.AsyncClient(base_url=a.api_url("timeline"), timeout=30, limits=limits) as home_api,
        httpx.AsyncClient(base_url=b.api_url("federation"), timeout=30, limits=limits) as peer_api,
    ):
        home = (home_api, f"/subjects/{subject.id}/posts", doctor)
        federated = (peer_api, f"/referrals/{referral['id']}/timeline", nurse.headers)
        # Both answer, with the same posts, before anything is timed (and every cache is warm).
        seen_home = (await home_api.get(home[1], headers=doctor)).json()
        seen_peer = (await peer_api.get(federated[1], headers=nurse.headers)).json()
        assert len(seen_peer["posts"]) == posts, seen_peer
        assert len(seen_home["items"]) >= posts
        for client, path, headers in (home, federated):
            await phase(client, path, headers, seconds=2, concurrency=concurrency)  # warm-up
        for _ in range(rounds):
            for name, (client, path, headers) in (("home", home), ("federated", federated)):
                results[name].append(
                    await phase(client, path, headers, seconds=seconds, concurrency=concurrency)
                )

    def total(name: str) -> dict[str, Any]:
        done = results[name]
        requests = sum(r["requests"] for r in done)
        elapsed = sum(r["seconds"] for r in done)
        return {
            "per_s": round(requests / elapsed, 1),
            "p50_ms": statistics.median(r["p50_ms"] for r in done),
            "p95_ms": statistics.median(r["p95_ms"] for r in done),
            "failures": sum(r["failures"] for r in done),
        }

    home_total, federated_total = total("home"), total("federated")
    ratio = round(federated_total["per_s"] / home_total["per_s"], 2)
    return {
        "posts": posts,
        "seconds": seconds,
        "rounds": rounds,
        "concurrency": concurrency,
        "home": home_total,
        "federated": federated_total,
        "ratio_federated_to_home": ratio,
        "target_ratio": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
        "phases": results,
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="yui-bench-federation-") as root,
        two_deployments(Path(root), label="benchrd") as stacks,
    ):
        start_care(stacks)
        result = asyncio.run(
            measure(
                stacks,
                posts=args.posts,
                seconds=args.seconds,
                rounds=args.rounds,
                concurrency=args.concurrency,
            )
        )
    path = write_results(result, "federation_read")
    print(
        f"\nReading one subject's timeline ({result['posts']} posts), {result['concurrency']} readers, "
        f"{result['rounds']} × {result['seconds']:.0f} s each, service APIs"
    )
    print(f"{'':44}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}")
    for label, key in (
        ("home: a's doctor, a's timeline", "home"),
        ("federated: b's nurse, b's federation → a", "federated"),
    ):
        figures = result[key]
        print(f"{label:44}{figures['per_s']:>10.1f}{figures['p50_ms']:>10.1f}{figures['p95_ms']:>10.1f}")
    verdict = "met" if result["met"] else "missed"
    print(
        f"ratio federated / home: {result['ratio_federated_to_home']:.2f} "
        f"(target ≥ {TARGET_RATIO}: {verdict})  (raw: {path.relative_to(REPO)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
