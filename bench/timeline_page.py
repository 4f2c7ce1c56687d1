"""Timeline benchmark: a 50-post page with authorization and audit against the leanest FastAPI + asyncpg
endpoints running the same SQL, post creation per second, and page latency at 100,000 and 1,000,000 posts.

Setup (bulk, in SQL): 5,000 subjects with a care team, 100,000 posts; the page is measured; then the table
grows to 1,000,000 posts (``--large``) and the page is measured again. The apps run in this process and are
called over ASGI (httpx.ASGITransport), the same closed loop of concurrent clients against each, in alternating
rounds:
  * yui:          timeline's real app: token (signature cached per token), then on the pool's asyncpg
                  connection outside any transaction one authorization statement (deny list + care team +
                  support stopped) and one statement for the page with its attachments and counts that also
                  appends the audit entry (yui_common.audit.counted_entry_cte), JSON built once
                  (timeline.posts.pages);
  * lean_audited: the fair baseline (issue 13): FastAPI + an asyncpg pool running the same SELECTs as the
                  old path (care team, page, attachments, summaries) and appending ONE audit row (content hash
                  included) without a lock, then returning the rows as JSON; no token, no ORM;
  * lean:         the same without the audit row (the ceiling).
The verdict compares yui with lean_audited (target ``RATIO_TARGET``). Seeded posts carry no version rows (the
page does not read them). Uses its own database (yui_bench_timeline), recreated at start.
Run: ``.venv/bin/python bench/timeline_page.py [--seconds 8] [--concurrency 16] [--large 1000000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from identity import tokens
from timeline.main import create_app
from timeline.settings import Settings
from uuid6 import uuid7
from yui_common.audit import entry_hash
from yui_common.db import asyncpg_dsn
from yui_common.migrations import migrate

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SUBJECTS = 5_000
TENANT = "bench"
RATIO_TARGET = 0.8

ACCESS_SQL = (
    "SELECT a.subject_id, a.support_stopped_at FROM subject_access a JOIN care_team_members m "
    "ON m.subject_id = a.subject_id WHERE a.subject_id = $1 AND a.tenant = $2 AND m.user_id = $3"
)
PAGE_SQL = (
    "SELECT * FROM posts WHERE subject_id = $1 AND parent_id IS NULL AND support_stopped_at IS NULL "
    "ORDER BY created_at DESC, id DESC LIMIT $2"
)
ATTACHMENTS_SQL = "SELECT * FROM attachments WHERE post_id = ANY($1::uuid[]) ORDER BY created_at"
SUMMARIES_SQL = (
    "SELECT ids.id, "
    "(SELECT count(*) FROM posts r WHERE r.parent_id = ids.id AND r.deleted_at IS NULL) AS replies, "
    "(SELECT count(*) FROM read_marks m WHERE m.post_id = ids.id) AS reads, "
    "EXISTS (SELECT 1 FROM read_marks m WHERE m.post_id = ids.id AND m.user_id = $2) AS read_by_me "
    "FROM unnest($1::uuid[]) AS ids(id)"
)


AUDIT_SQL = (
    "INSERT INTO audit_log (id, occurred_at, tenant, actor_id, facility_id, subject_id, action, target, "
    "detail, trace_id, hash) VALUES ($1, $2, $3, $4, NULL, $5, 'post.list', $6, $7::jsonb, NULL, $8)"
)


def lean_app(dsn: str, *, audited: bool, pool_size: int) -> FastAPI:
    app = FastAPI()

    @app.on_event("startup")
    async def open_pool() -> None:
        # Idle connections close after a second: PostgreSQL's connections are shared with everyone on the
        # machine, and only one app is measured at a time.
        app.state.pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=pool_size, max_inactive_connection_lifetime=1.0
        )

    @app.on_event("shutdown")
    async def close_pool() -> None:
        await app.state.pool.close()

    @app.get("/subjects/{subject_id}/posts")
    async def page(subject_id: UUID, user: UUID, limit: int = 50) -> JSONResponse:
        async with app.state.pool.acquire() as conn:
            access = await conn.fetchrow(ACCESS_SQL, subject_id, TENANT, user)
            if access is None:
                return JSONResponse({"status": 404}, status_code=404)
            rows = await conn.fetch(PAGE_SQL, subject_id, limit)
            ids = [r["id"] for r in rows]
            await conn.fetch(ATTACHMENTS_SQL, ids)
            await conn.fetch(SUMMARIES_SQL, ids, user)
            if audited:
                # One row, appended without a lock (autocommit), with the content hash Yui's entries carry.
                fields = {
                    "id": str(uuid7()),
                    "occurred_at": datetime.now(UTC),
                    "tenant": TENANT,
                    "actor_id": str(user),
                    "facility_id": None,
                    "subject_id": str(subject_id),
                    "action": "post.list",
                    "target": f"subject:{subject_id}",
                    "detail": {"count": len(rows)},
                    "trace_id": None,
                }
                await conn.execute(
                    AUDIT_SQL,
                    UUID(fields["id"]),
                    fields["occurred_at"],
                    TENANT,
                    fields["actor_id"],
                    fields["subject_id"],
                    fields["target"],
                    json.dumps(fields["detail"]),
                    entry_hash(fields),
                )
        items = [
            {k: (str(v) if isinstance(v, UUID | datetime) else v) for k, v in dict(r).items()} for r in rows
        ]
        return JSONResponse({"items": items})

    return app


def bench_settings(prefix: str, pool: int) -> Settings:
    """timeline's settings for a bench app: its own databases, a fixed pool (no overflow)."""
    return Settings(
        database_prefix=prefix,
        signing_key_file=REPO / ".run" / "bench-signing-key.pem",
        database_pool_size=pool,
        database_max_overflow=0,
    )


def staff_token(settings: Settings, key: Any, user: UUID) -> str:
    """A staff member's access token of the bench network, signed with the bench's own key."""
    return tokens.sign_access_token(
        key,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        user_id=user,
        tenant=TENANT,
        facility_id=uuid4(),
        roles=["staff"],
        name="bench",
        ttl_s=3600,
    )


async def reset(settings: Settings) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings.postgres_url.rstrip("/") + "/postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')
    finally:
        await conn.close()
    await asyncio.to_thread(migrate, REPO / "services" / "timeline", settings)


async def seed(dsn: str, user: UUID, subjects: list[UUID], total_posts: int, already: int) -> float:
    """Bring the posts table to ``total_posts`` rows, spread evenly over the subjects; returns seconds."""
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        if already == 0:
            await conn.executemany(
                "INSERT INTO subject_access (subject_id, tenant, consent_active) VALUES ($1, $2, true)",
                [(s, TENANT) for s in subjects],
            )
            await conn.executemany(
                "INSERT INTO care_team_members (subject_id, user_id, tenant) VALUES ($1, $2, $3)",
                [(s, user, TENANT) for s in subjects],
            )
        per_subject = (total_posts - already) // len(subjects)
        await conn.execute(
            "INSERT INTO posts (id, tenant, subject_id, author_id, category, body, search_text, created_at) "
            "SELECT gen_random_uuid(), $1, s, $2, 'visit', '訪問記録 ' || g, '訪問記録 ' || g, "
            "now() - make_interval(mins => g + $4) "
            "FROM unnest($3::uuid[]) AS s, generate_series(1, $5) AS g",
            TENANT,
            uuid4(),
            subjects,
            already,
            per_subject,
        )
        await conn.execute("ANALYZE posts")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def closed_loop(
    client: httpx.AsyncClient, url_for: Any, headers: dict[str, str], seconds: float, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.get(url_for(), headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "per_s": round(len(ordered) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
    }


async def compare(
    clients: dict[str, httpx.AsyncClient],
    token: str,
    user: UUID,
    subjects: list[UUID],
    *,
    seconds: float,
    concurrency: int,
    rounds: int,
) -> dict[str, Any]:
    """Each app in turn, ``rounds`` times, the same closed loop; yui's throughput as a ratio of each. Beside
    it, this process's CPU per request (the client's share included, the same for every app), which other
    load on a shared machine disturbs far less than requests per second."""
    latencies: dict[str, list[float]] = {name: [] for name in clients}
    cpu_s: dict[str, float] = dict.fromkeys(clients, 0.0)
    for _ in range(rounds):
        for name, client in clients.items():
            cpu_started = time.process_time()
            if name == "yui":
                latencies[name] += await closed_loop(
                    client,
                    lambda: f"/subjects/{random.choice(subjects)}/posts",
                    {"Authorization": f"Bearer {token}"},
                    seconds,
                    concurrency,
                )
            else:
                latencies[name] += await closed_loop(
                    client,
                    lambda: f"/subjects/{random.choice(subjects)}/posts?user={user}",
                    {},
                    seconds,
                    concurrency,
                )
            cpu_s[name] += time.process_time() - cpu_started
    result: dict[str, Any] = {}
    for name, lat in latencies.items():
        result[name] = {
            **summary(lat, seconds * rounds),
            "cpu_ms_per_request": round(cpu_s[name] * 1000 / len(lat), 2),
        }
    for name in clients:
        if name != "yui":
            result[f"throughput_ratio_to_{name}"] = round(result["yui"]["per_s"] / result[name]["per_s"], 3)
            result[f"cpu_ratio_to_{name}"] = round(
                result[name]["cpu_ms_per_request"] / result["yui"]["cpu_ms_per_request"], 3
            )
    return result


async def post_creation(
    yui: httpx.AsyncClient, token: str, subjects: list[UUID], *, posts: int, concurrency: int
) -> dict[str, float]:
    """Posts per second: each one post + version + signature + audit + outbox rows in one transaction."""
    queue = list(range(posts))
    started = time.perf_counter()

    async def one_client() -> None:
        while queue:
            n = queue.pop()
            response = await yui.post(
                f"/subjects/{random.choice(subjects)}/posts",
                json={"category": "visit", "body": f"ベンチマーク投稿 {n}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            if response.status_code != 201:
                raise RuntimeError(response.text[:200])

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"posts": posts, "seconds": round(elapsed, 2), "per_s": round(posts / elapsed, 1)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--posts", type=int, default=1_000, help="posts created for the creation rate")
    parser.add_argument("--pool", type=int, default=8, help="database connections of each app")
    args = parser.parse_args()

    settings = bench_settings("yui_bench_", args.pool)
    await reset(settings)
    dsn = asyncpg_dsn(settings.dsn)
    user = uuid4()
    subjects = [uuid4() for _ in range(SUBJECTS)]
    key = tokens.new_signing_key()
    token = staff_token(settings, key, user)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.python_version()}",
        "concurrency": args.concurrency,
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "pool_per_app": args.pool,
    }
    result["seed_small_s"] = round(await seed(dsn, user, subjects, args.small, 0), 1)

    yui_app = create_app(settings)
    audited = lean_app(dsn, audited=True, pool_size=args.pool)
    lean = lean_app(dsn, audited=False, pool_size=args.pool)
    async with (
        LifespanManager(yui_app, startup_timeout=60),
        LifespanManager(audited),
        LifespanManager(lean),
    ):
        yui_app.state.token_verifier.keys.load({"keys": [tokens.public_jwk(key)]})
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=yui_app), base_url="http://yui") as yui,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=audited), base_url="http://lean"
            ) as audited_c,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=lean), base_url="http://lean") as lean_c,
        ):
            clients = {"yui": yui, "lean_audited": audited_c, "lean": lean_c}
            # Warm all (connections, prepared statements, the token cache) before measuring.
            for client in (audited_c, lean_c):
                await closed_loop(client, lambda: f"/subjects/{subjects[0]}/posts?user={user}", {}, 1, 4)
            await closed_loop(
                yui, lambda: f"/subjects/{subjects[0]}/posts", {"Authorization": f"Bearer {token}"}, 1, 4
            )
            result[f"page_at_{args.small}"] = await compare(
                clients,
                token,
                user,
                subjects,
                seconds=args.seconds,
                concurrency=args.concurrency,
                rounds=args.rounds,
            )
            print(json.dumps({f"page_at_{args.small}": result[f"page_at_{args.small}"]}), flush=True)
            result["post_creation"] = await post_creation(
                yui, token, subjects, posts=args.posts, concurrency=args.concurrency
            )
            print(json.dumps({"post_creation": result["post_creation"]}), flush=True)
            result["seed_large_s"] = round(
                await seed(dsn, user, subjects, args.large, args.small + args.posts), 1
            )
            print(json.dumps({"seed_large_s": result["seed_large_s"]}), flush=True)
            result[f"page_at_{args.large}"] = await compare(
                clients,
                token,
                user,
                subjects,
                seconds=args.seconds,
                concurrency=args.concurrency,
                rounds=args.rounds,
            )
            print(json.dumps({f"page_at_{args.large}": result[f"page_at_{args.large}"]}), flush=True)
    small, large = result[f"page_at_{args.small}"], result[f"page_at_{args.large}"]
    fair = "throughput_ratio_to_lean_audited"
    result["verdict"] = {
        "throughput_ratio_target": RATIO_TARGET,
        "against": "lean_audited",
        "throughput_ratio_met": min(small[fair], large[fair]) >= RATIO_TARGET,
        "p50_growth_small_to_large": round(large["yui"]["p50_ms"] / small["yui"]["p50_ms"], 2),
    }
    result["machine_note"] = "shared 2-core machine: other engineers' tests may run at the same time"
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"timeline-page-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
