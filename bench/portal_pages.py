"""Portal staff pages: server time (p50/p99) of the home page and a subject's timeline under concurrent load,
and each page's compressed weight (HTML + CSS + JS, gzip level 5 as the gateway sends it).

The whole stack runs in this process (tests/support/stack.py on the real PostgreSQL, RabbitMQ and SeaweedFS):
the portal renders each page by calling consent, timeline and notify over their ASGI apps, so the time is the
portal's request time including the services it calls, with no network and no TLS in it. Data: one network,
a doctor with ``--subjects`` subjects (registered with consent through the API, so every projection is real)
and ``--posts`` posts on each, added in bulk in SQL the way bench/timeline_page.py does. A closed loop of
``--concurrency`` clients with one signed-in session requests each page for ``--seconds``.

Run: ``.venv/bin/python bench/portal_pages.py [--subjects 30] [--posts 200] [--seconds 10]
[--concurrency 8]``. Writes bench/results/portal_pages.json.
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
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results"

import asyncpg  # noqa: E402
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


async def closed_loop(browser: Browser, path: str, seconds: float, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await browser.get(path)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)

    await browser.get(path)  # warm-up: templates compiled, pools filled
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "per_second": round(len(ordered) / seconds, 1),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
        "max_ms": round(ordered[-1], 1),
    }


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
            seeded_s = time.perf_counter() - started
            browser = await sign_in(stack, person)
            pages = {"home": "/staff", "timeline": f"/staff/subjects/{subjects[0]}/timeline"}
            result: dict[str, Any] = {
                "benchmark": "portal_pages",
                "at": datetime.now(UTC).isoformat(),
                "machine": {"cpus": os.cpu_count()},
                "arguments": vars(args),
                "seed_seconds": round(seeded_s, 1),
                "latency": {},
                "weight": {},
            }
            for name, path in pages.items():
                result["latency"][name] = await closed_loop(browser, path, args.seconds, args.concurrency)
                result["weight"][name] = await weight(browser, path)
            result["machine"]["load_average_at_end"] = os.getloadavg()
        finally:
            try:
                await asyncio.wait_for(stack.close(), 60)
            except TimeoutError:
                print("portal_pages: the stack did not stop within 60 s; leaving it", file=sys.stderr)
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        f"portal pages, {result['arguments']['concurrency']} concurrent clients, "
        f"{result['arguments']['subjects']} subjects x {result['arguments']['posts']} posts",
        f"{'page':10}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'bytes':>9}{'gzip':>8}",
    ]
    for name, latency in result["latency"].items():
        w = result["weight"][name]
        lines.append(
            f"{name:10}{latency['per_second']:8.1f}{latency['p50_ms']:9.1f}{latency['p99_ms']:9.1f}"
            f"{w['total_bytes']:9d}{w['total_gzip_bytes']:8d}"
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
    args = parser.parse_args()
    os.environ["YUI_TEST_RUN"] = "bench_portal"  # its own databases and vhost, never a test run's
    os.environ.setdefault("YUI_LOG_LEVEL", "WARNING")
    result = asyncio.run(measure(args))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "portal_pages.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nraw numbers: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
