"""Portal staff pages beside the timeline API they stand on: throughput and server time (p50/p99) of the
portal's home page against timeline's feed (``GET /feed``) and of a subject's timeline page against
timeline's page of posts (``GET /subjects/{id}/posts?limit=30``, the portal's page size), under concurrent
load, side by side in one run, with each page's compressed weight (HTML + CSS + JS, gzip level 5 as the
gateway sends it). Target (issue 13): each portal page at least 0.5x its API in requests per second.
With ``--pages vitals`` it also measures issue 16's chart page over a year of daily vitals (``--vitals-days``)
beside the portal's timeline page (no target there).

The whole stack runs in this process (tests/support/stack.py on the real PostgreSQL, RabbitMQ and SeaweedFS):
the portal renders each page by calling identity, consent, timeline and notify over their ASGI apps, so its
time includes the services it calls, with no network and no TLS in it; the API side calls timeline's app
the same way with the access token the portal holds for the same signed-in member. Each side runs a closed
loop of ``--concurrency`` clients for ``--seconds`` in total, in ``--rounds`` alternating rounds (API, portal,
API, portal, …), so that load from elsewhere on a shared machine falls on both alike; compare the ratio,
not the absolute figures.

Data: one network, a doctor with ``--subjects`` subjects and ``--posts`` posts on each. The subjects are
registered with consent through the API one by one (so every projection is real), the
posts are added in one INSERT … SELECT generate_series in SQL as bench/timeline_page.py does. The issue's
200 x 5,000 (1 M posts) seeds in 30-100 s on this 2-core machine (more when it is shared) and leaves a
timeline database of about 360 MB (dropped by the next run); the defaults (30 x 200) take seconds.

Run: ``.venv/bin/python bench/portal_pages.py [--subjects 30] [--posts 200] [--seconds 10]
[--concurrency 8] [--rounds 2] [--pages timeline,home] [--output portal_pages.json]``. Writes
bench/results/<output>.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results"

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from portal.session import SESSION_COOKIE  # noqa: E402
from yui_common.db import asyncpg_dsn  # noqa: E402

from tests.browser.staff_ui import Browser, add_person, sign_in  # noqa: E402
from tests.e2e.test_cascade import post_when_allowed  # noqa: E402
from tests.support import infrastructure  # noqa: E402
from tests.support.stack import Stack, Staff  # noqa: E402

GZIP_LEVEL = 5  # deploy/gateway/nginx.conf.template: gzip_comp_level 5
ASSET = re.compile(r'<(?:link rel="stylesheet" href|script src)="([^"]+)"')


async def seed(stack: Stack, doctor: Staff, subjects: int, posts: int) -> list[UUID]:
    consent = stack["consent"].client
    ids = []
    for n in range(subjects):
        created = await consent.post(
            "/subjects",
            json={
                "name": f"結 利用者{n}",
                "name_kana": f"ユイ リヨウシャ{n}",
                "birth_date": "1940-01-02",
                "municipality_code": "232360",
                "confirm_not_duplicate": True,
            },
            headers=doctor.headers,
        )
        assert created.status_code == 201, created.text
        subject_id = UUID(created.json()["id"])
        given = await consent.post(
            f"/subjects/{subject_id}/consents",
            json={"given_by": "subject", "given_on": str(date.today())},
            headers=doctor.headers,
        )
        assert given.status_code == 201, given.text
        ids.append(subject_id)
    for subject_id in ids:
        await post_when_allowed(stack, doctor, subject_id, "初回訪問")
    conn = await asyncpg.connect(asyncpg_dsn(stack["timeline"].settings.dsn))
    try:
        await conn.execute(
            "INSERT INTO posts (id, tenant, subject_id, author_id, category, body, search_text, created_at) "
            "SELECT gen_random_uuid(), $1, s, $2, 'visit', '訪問記録 ' || g, '訪問記録 ' || g, "
            "now() - make_interval(mins => g) "
            "FROM unnest($3::uuid[]) AS s, generate_series(1, $4) AS g",
            doctor.tenant,
            doctor.user_id,
            ids,
            posts,
        )
        await conn.execute("ANALYZE posts")
    finally:
        await conn.close()
    return ids


async def seed_vitals(stack: Stack, doctor: Staff, subject_id: UUID, days: int) -> None:
    """A vitals entry a day for ``days`` days on one subject (issue 16's measure: the chart page for a year of
    daily vitals), each with its post, in two INSERT … SELECT generate_series statements."""
    conn = await asyncpg.connect(asyncpg_dsn(stack["timeline"].settings.dsn))
    try:
        async with conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE daily ON COMMIT DROP AS SELECT gen_random_uuid() AS id, g, "
                "now() - make_interval(days => g) + interval '1 hour' AS at FROM generate_series(0, $1 - 1) AS g",
                days,
            )
            await conn.execute(
                "INSERT INTO posts (id, tenant, subject_id, author_id, category, body, search_text, created_at) "
                "SELECT id, $1, $2, $3, 'vital_signs', '【バイタル】', '【バイタル】', at FROM daily",
                doctor.tenant,
                subject_id,
                doctor.user_id,
            )
            await conn.execute(
                "INSERT INTO vitals (post_id, tenant, subject_id, recorded_by, measured_at, systolic, diastolic, "
                "pulse, spo2, temperature, weight) SELECT id, $1, $2, $3, at, 120 + g % 20, 70 + g % 10, "
                "60 + g % 25, 94 + g % 5, 36.0 + (g % 10) / 10.0, 50.0 + (g % 30) / 10.0 FROM daily",
                doctor.tenant,
                subject_id,
                doctor.user_id,
            )
        await conn.execute("ANALYZE vitals")
    finally:
        await conn.close()


Fetch = Callable[[], Awaitable[httpx.Response]]


async def closed_loop(fetch: Fetch, seconds: float, concurrency: int, latencies: list[float]) -> None:
    """``concurrency`` clients, each sending its next request as soon as the last one answered."""
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await fetch()
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (response.request.url, response.status_code)

    await asyncio.gather(*(one_client() for _ in range(concurrency)))


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "per_second": round(len(ordered) / seconds, 1),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def side_by_side(
    api: Fetch, portal: Fetch, *, seconds: float, rounds: int, concurrency: int
) -> dict[str, Any]:
    """The service's API and the portal's page over it, in alternating rounds of ``seconds / rounds`` each,
    so that a shared machine's load swings fall on both sides alike."""
    await api()  # warm-up: templates compiled, pools filled
    await portal()
    measured: dict[str, list[float]] = {"api": [], "portal": []}
    for _ in range(rounds):
        for side, fetch in (("api", api), ("portal", portal)):
            await closed_loop(fetch, seconds / rounds, concurrency, measured[side])
    result = {side: summary(latencies, seconds) for side, latencies in measured.items()}
    result["ratio"] = round(result["portal"]["per_second"] / max(result["api"]["per_second"], 0.1), 2)
    return result


async def weight(browser: Browser, path: str) -> dict[str, Any]:
    html = (await browser.get(path)).content
    parts: dict[str, dict[str, int]] = {
        "html": {"bytes": len(html), "gzip": len(gzip.compress(html, GZIP_LEVEL))}
    }
    for asset in ASSET.findall(html.decode()):
        body = (await browser.get(asset)).content
        parts[asset] = {"bytes": len(body), "gzip": len(gzip.compress(body, GZIP_LEVEL))}
    return {
        "parts": parts,
        "total_bytes": sum(p["bytes"] for p in parts.values()),
        "total_gzip_bytes": sum(p["gzip"] for p in parts.values()),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as exits, tempfile.TemporaryDirectory(prefix="yui-bench-portal-") as tmp:
        found = infrastructure.start(exits, "master", Path(tmp))
        if found.uses_local_rabbitmq:
            infrastructure.rabbitmqctl("delete_vhost", found.amqp_vhost)
            infrastructure.ensure_vhost(found.amqp_vhost)
        infrastructure.export(found)
        if args.pool_overflow is not None:
            # The tests' small pools (2 + 6 per service, ten processes' pools in one) queue a portal page's
            # concurrent calls to one service; a deployment gives each service 10 + 10 of its own.
            os.environ["YUI_DATABASE_MAX_OVERFLOW"] = str(args.pool_overflow)
        stack = Stack()
        await stack.start()
        try:
            person = await add_person(
                stack,
                tenant="bench-portal",
                facility_name="結クリニック",
                kind="clinic",
                login_id="doctor",
                name="山田 太郎",
                roles=["facility_admin", "staff"],
                create_network=True,
            )
            doctor = stack.staff(
                tenant=person.tenant,
                facility_id=person.facility_id,
                roles=("facility_admin", "staff"),
                user_id=person.user_id,
            )
            started = time.perf_counter()
            subjects = await seed(stack, doctor, args.subjects, args.posts)
            if "vitals" in args.pages:
                await seed_vitals(stack, doctor, subjects[0], args.vitals_days)
            seeded_s = time.perf_counter() - started
            browser = await sign_in(stack, person)
            # The API side calls with the very access token the portal holds in the staff member's cookie.
            portal_state = stack["portal"].app.state
            sealed = browser.cookies[SESSION_COOKIE].encode()
            token = json.loads(portal_state.staff_session_fernet.decrypt(sealed))["a"]
            timeline_api = stack["timeline"].client
            auth = {"Authorization": f"Bearer {token}"}
            subject = subjects[0]
            pairs: dict[str, tuple[Fetch, Fetch, str]] = {
                # The portal's timeline page shows 30 posts (portal.staff.timeline.PAGE_SIZE).
                "timeline": (
                    lambda: timeline_api.get(
                        f"/subjects/{subject}/posts", params={"limit": 30}, headers=auth
                    ),
                    lambda: browser.get(f"/staff/subjects/{subject}/timeline"),
                    f"/staff/subjects/{subject}/timeline",
                ),
                "home": (
                    lambda: timeline_api.get("/feed", headers=auth),
                    lambda: browser.get("/staff"),
                    "/staff",
                ),
                # Issue 16's measure: the chart page over a year of daily vitals beside the timeline page
                # (both portal pages; the "api" side of this pair is the timeline page, no target).
                "vitals": (
                    lambda: browser.get(f"/staff/subjects/{subject}/timeline"),
                    lambda: browser.get(
                        f"/staff/subjects/{subject}/vitals", params={"days": args.vitals_days}
                    ),
                    f"/staff/subjects/{subject}/vitals?days={args.vitals_days}",
                ),
            }
            result: dict[str, Any] = {
                "benchmark": "portal_pages",
                "at": datetime.now(UTC).isoformat(),
                "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
                "arguments": vars(args),
                "seed_seconds": round(seeded_s, 1),
                "latency": {},
                "weight": {},
            }
            for name, (api, portal, path) in pages_wanted(pairs, args.pages).items():
                result["latency"][name] = await side_by_side(
                    api, portal, seconds=args.seconds, rounds=args.rounds, concurrency=args.concurrency
                )
                result["weight"][name] = await weight(browser, path)
            result["machine"]["load_average_at_end"] = os.getloadavg()
        finally:
            try:
                await asyncio.wait_for(stack.close(), 60)
            except TimeoutError:
                print("portal_pages: the stack did not stop within 60 s; leaving it", file=sys.stderr)
    return result


def pages_wanted(pairs: dict[str, Any], wanted: str) -> dict[str, Any]:
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    return {name: pairs[name] for name in names}


API_OF = {
    "timeline": "GET /subjects/{id}/posts?limit=30",
    "home": "GET /feed",
    "vitals": "portal timeline page (baseline)",
}


def table(result: dict[str, Any]) -> str:
    args = result["arguments"]
    lines = [
        f"portal pages beside the timeline API, {args['concurrency']} concurrent clients, "
        f"{args['subjects']} subjects x {args['posts']} posts, {args['seconds']:g} s per side "
        f"in {args['rounds']} alternating rounds",
        f"{'page':10}{'side':36}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>7}{'gzip B':>8}",
    ]
    for name, latency in result["latency"].items():
        target = "≥ 0.5: " + ("met" if latency["ratio"] >= 0.5 else "MISSED")
        if name == "vitals":
            target = f"chart of {args['vitals_days']} daily entries; measured, no target"
        for side, label in (
            ("api", API_OF[name]),
            ("portal", "vitals chart page" if name == "vitals" else "portal page"),
        ):
            figures = latency[side]
            ratio = f"{latency['ratio']:7.2f}" if side == "portal" else " " * 7
            weight = f"{result['weight'][name]['total_gzip_bytes']:8d}" if side == "portal" else ""
            lines.append(
                f"{name:10}{label:36}{figures['per_second']:8.1f}{figures['p50_ms']:9.1f}"
                f"{figures['p99_ms']:9.1f}{ratio}{weight}" + (f"  {target}" if side == "portal" else "")
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=30)
    parser.add_argument("--posts", type=int, default=200, help="posts per subject")
    parser.add_argument("--seconds", type=float, default=10.0, help="per page")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per side")
    parser.add_argument(
        "--pages", default="timeline,home", help="which pairs, comma-separated: timeline, home, vitals"
    )
    parser.add_argument(
        "--vitals-days", type=int, default=365, help="daily vitals entries seeded for the vitals pair"
    )
    parser.add_argument(
        "--pool-overflow", type=int, default=None, help="each service's pool overflow (tests: 6)"
    )
    parser.add_argument("--output", default="", help="results file name (default portal_pages.json)")
    args = parser.parse_args()
    os.environ["YUI_TEST_RUN"] = "bench_portal"  # its own databases and vhost, never a test run's
    os.environ.setdefault("YUI_LOG_LEVEL", "WARNING")
    result = asyncio.run(measure(args))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / (args.output or "portal_pages.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nraw numbers: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
