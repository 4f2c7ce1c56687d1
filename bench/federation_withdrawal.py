"""Federation withdrawal benchmark (issue 12, fed3): from a withdrawal's commit at the home deployment to the peer
deployment's fetch being refused, p50/p99 over ``--subjects`` referred subjects (target p99 < 1 s).

Two separate deployments on this machine (tests/support/two_stacks.py: own databases, vhost, SeaweedFS, CA, ports
and nginx gateway; consent, timeline, notify, identity and federation running as real processes), an agreement of
a's ``demo`` with b's ``tonari`` that lets referrals cross, and ``--subjects`` subjects of a (registered through
consent's API, consent given, a visit posted) referred to b's clinic and read once there by b's nurse. Then, one
subject at a time:
  t0       consent's API answers a's doctor's ``POST /subjects/{id}/withdrawals`` (the commit is before the answer);
  baseline a's federation has heard of it: its projection of the subject says consent ended (a's federation
           database polled every ``--poll-ms``), i.e. consent's outbox → RabbitMQ → federation's consumer, within a;
  refused  b's nurse's fetch (``GET /referrals/{id}/timeline`` on b's federation API, which asks a through a's
           gateway with mutual TLS) answers 410. b fetches back to back from t0, one fetch in flight at a time;
           the refusal is timed at that fetch's start (a lower bound: a decided during that fetch) and at its
           answer (an upper bound); the truth is between, one fetch apart (the fetch's own duration is printed).
Prints p50/p99 of each; raw numbers go to bench/results/federation_withdrawal-<timestamp>.json.
Run: ``uv run python bench/federation_withdrawal.py [--subjects 20] [--poll-ms 5]``.
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

import asyncpg  # noqa: E402
from bus import write_results  # noqa: E402

from tests.support.referral_peers import (  # noqa: E402
    HOME,
    fetch,
    home_subject,
    peer_staff,
    refer,
    referral_agreement,
    shared_at_peer,
    sign_in,
    withdraw,
)
from tests.support.two_stacks import TwoStacks, start_care, two_deployments  # noqa: E402

TARGET_P99_S = 1.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(stacks: TwoStacks, subjects: int, poll_s: float) -> dict[str, Any]:
    a, b = stacks.a, stacks.b
    doctor = await sign_in(a, HOME, "doctor")
    nurse = (await peer_staff(b))["nurse"]
    agreement = await referral_agreement(stacks, {})
    referred = []
    for number in range(subjects):
        subject = await home_subject(a, doctor, f"bench-{number}")
        referral = await refer(a, doctor, subject, agreement, categories=["visit"])
        await shared_at_peer(b, nurse, referral["id"])
        answer = await fetch(b, nurse, referral["id"])
        assert answer.status_code == 200, answer.text
        referred.append((subject, referral))
    print(f"bench: {subjects} subjects referred and read once at b", flush=True)

    heard: list[float] = []
    refused_start: list[float] = []
    refused_answer: list[float] = []
    fetch_s: list[float] = []
    federation_a = await asyncpg.connect(a.database("federation"))
    try:
        async with b.federation_api() as federation:
            for subject, referral in referred:
                # a few fetches before, so the client's connection and both sides' caches are warm
                for _ in range(3):
                    began = time.perf_counter()
                    assert (await fetch(b, nurse, referral["id"], federation)).status_code == 200
                    fetch_s.append(time.perf_counter() - began)
                await withdraw(a, doctor, subject.id)
                t0 = time.perf_counter()

                async def until_heard(subject_id: str = subject.id, t0: float = t0) -> None:
                    while True:
                        active = await federation_a.fetchval(
                            "SELECT consent_active FROM subjects WHERE subject_id = $1::uuid", subject_id
                        )
                        if active is False:
                            heard.append(time.perf_counter() - t0)
                            return
                        await asyncio.sleep(poll_s)

                async def until_refused(referral_id: str = referral["id"], t0: float = t0) -> None:
                    while True:
                        began = time.perf_counter()
                        status = (await fetch(b, nurse, referral_id, federation)).status_code
                        if status == 410:
                            refused_start.append(began - t0)
                            refused_answer.append(time.perf_counter() - t0)
                            return
                        assert status == 200, status

                await asyncio.wait_for(asyncio.gather(until_heard(), until_refused()), timeout=30)
    finally:
        await federation_a.close()

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "p50_s": round(statistics.median(values), 4),
            "p99_s": round(percentile(values, 0.99), 4),
            "max_s": round(max(values), 4),
        }

    return {
        "subjects": subjects,
        "poll_ms": poll_s * 1000,
        "heard_at_home_federation": summary(heard),
        "refused_at_peer_fetch_start": summary(refused_start),
        "refused_at_peer_answer": summary(refused_answer),
        "peer_fetch_duration": summary(fetch_s),
        "raw": {
            "heard_s": [round(v, 4) for v in heard],
            "refused_start_s": [round(v, 4) for v in refused_start],
            "refused_answer_s": [round(v, 4) for v in refused_answer],
        },
        "target_p99_s": TARGET_P99_S,
        "met": percentile(refused_answer, 0.99) < TARGET_P99_S,
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--poll-ms", type=float, default=5.0)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="yui-bench-federation-") as root,
        two_deployments(Path(root), label="benchwd") as stacks,
    ):
        start_care(stacks)
        result = asyncio.run(measure(stacks, args.subjects, args.poll_ms / 1000))
    path = write_results(result, "federation_withdrawal")
    print(
        f"\nWithdrawal at a → b's fetch refused, {result['subjects']} subjects (two deployments, mTLS gateways)"
    )
    print(f"{'from consent’s answer at a until':48}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    rows = (
        ("a's federation has heard (baseline, within a)", "heard_at_home_federation"),
        ("b's refused fetch started (lower bound)", "refused_at_peer_fetch_start"),
        ("b's refused fetch answered (upper bound)", "refused_at_peer_answer"),
        ("(one fetch of b, consent standing)", "peer_fetch_duration"),
    )
    for label, key in rows:
        figures = result[key]
        print(
            f"{label:48}{figures['p50_s'] * 1000:>10.1f}{figures['p99_s'] * 1000:>10.1f}{figures['max_s'] * 1000:>10.1f}"
        )
    verdict = "met" if result["met"] else "missed"
    print(f"target p99 < {TARGET_P99_S * 1000:.0f} ms (answered): {verdict}  (raw: {path.relative_to(REPO)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
