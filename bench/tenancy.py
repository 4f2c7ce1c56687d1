"""Many networks in one deployment against one network holding the same data (issue 11's measure): the staff
timeline page and the staff home, p50/p95 latency and requests per second, side by side in one run.

Two layouts of the same total data, each in its own set of databases of one in-process stack
(tests/support/stack.py: the five services' APIs, the portal calling the others over ASGI, no workers):

  * many: ``N`` networks (default 100), each with one clinic and its doctor, who has ``S`` subjects (default 200)
    with ``P`` posts each (default 200) on their care team: N x S x P posts (4,000,000);
  * one:  one network with the same ``N`` clinics and doctors, each doctor with the same ``S`` subjects x ``P``
    posts: the same rows, the same view per doctor; only the tenant column differs.

So the comparison asks one question: does splitting a deployment into many networks cost a staff member
anything? (Every lookup is by tenant and id or by care team; the target is "within 10 %": for each page, the
many-network layout's p50 and p95 at most 1.1x the one network's, and its requests per second at least 0.9x.)

The data is generated set-based, straight into the services' databases (``INSERT … SELECT generate_series``):
identity's networks, facilities and doctors (through the ORM: a few hundred rows, one password hash shared); in
consent the subjects, their active consents, care teams and the doctors as people; in timeline each subject's
access, care team and posts (the posts' secondary indexes are dropped for the load and built again after it,
then ANALYZE), and the doctors as people. A subject's id is ``md5(doctor id || ':' || n)::uuid`` in both
databases. Notify and the portal hold nothing for them (an empty inbox, no notices, no terms to accept).

Measured: ``--clients`` doctors of each layout sign in through the portal (password + TOTP; in "many" each in a
network of their own, spread over the networks), and ``--concurrency`` clients each take one of them and open
``/staff/subjects/{id}/timeline`` (a random subject of theirs) or ``/staff`` as fast as answers come, for
``--seconds`` per page and layout in ``--rounds`` alternating rounds (many, one, many, one, …), so load from
elsewhere on a shared machine falls on both alike. Before measuring, each page is checked to show the doctor's
data (a subject's name on the home, a post on the timeline), so no error page is timed.

Databases ``yui_bench_tenancy_many_<svc>`` and ``yui_bench_tenancy_one_<svc>`` (recreated at start, dropped at
the end unless ``--keep``), RabbitMQ vhost of test run ``bench_tenancy``. Scale: ``--scale 0.25`` keeps S and P
and takes a quarter of the networks (25 x 200 x 200 = 1,000,000 posts per layout); ``--quick`` is a smoke run
(3 networks x 10 subjects x 10 posts). Timings of each phase are in the results.
Run: ``uv run python bench/tenancy.py [--scale 1] [--seconds 30] [--rounds 3] [--concurrency 4] [--quick]``.
Writes bench/results/tenancy-<timestamp>.json and tenancy-baseline.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import pyotp  # noqa: E402
from bus import write_results  # noqa: E402
from yui_common.db import asyncpg_dsn  # noqa: E402

from tests.browser.staff_ui import Browser, Codes, Person, sign_in  # noqa: E402
from tests.support import infrastructure  # noqa: E402
from tests.support.stack import SERVICES, Stack, reset_database  # noqa: E402

LAYOUTS = ("many", "one")
TARGET = 0.10  # within 10 %
PASSWORD = "bench-Tenancy-2026!"
MUNICIPALITY = "232360"


@dataclass(frozen=True)
class Doctor:
    user_id: UUID
    facility_id: UUID
    tenant: str
    login_id: str
    secret: str


def doctors_of(layout: str, networks: int) -> list[Doctor]:
    """``networks`` doctors, each with a clinic: one per network ("many") or all in one network ("one")."""
    return [
        Doctor(
            user_id=uuid4(),
            facility_id=uuid4(),
            tenant=f"bench-many-{n:03d}" if layout == "many" else "bench-one",
            login_id=f"doctor-{n:03d}",
            secret=pyotp.random_base32(),
        )
        for n in range(networks)
    ]


async def seed_identity(stack: Stack, doctors: list[Doctor]) -> None:
    from identity.models import Facility, Network, User
    from identity.passwords import hash_password

    password_hash = hash_password(PASSWORD)
    async with stack["identity"].sessionmaker() as session, session.begin():
        for tenant in sorted({d.tenant for d in doctors}):
            session.add(Network(slug=tenant, name=f"ベンチ {tenant}", municipality_codes=[MUNICIPALITY]))
        await session.flush()
        for n, doctor in enumerate(doctors):
            session.add(
                Facility(id=doctor.facility_id, tenant=doctor.tenant, name=f"ベンチ診療所 {n}", kind="clinic")
            )
        await session.flush()
        for n, doctor in enumerate(doctors):
            session.add(
                User(
                    id=doctor.user_id,
                    tenant=doctor.tenant,
                    facility_id=doctor.facility_id,
                    login_id=doctor.login_id,
                    display_name=f"ベンチ 医師{n}",
                    profession="doctor",
                    password_hash=password_hash,
                    roles=["staff"],
                    totp_secret=doctor.secret,
                    totp_confirmed=True,
                    person_version=1,
                )
            )


# The doctors as one relation, passed as arrays: (user_id, tenant, facility_id, number).
DOCTORS = "SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[]) AS d(user_id, tenant, facility_id, n)"
SUBJECT_ID = "md5(d.user_id::text || ':' || g)::uuid"


def doctor_arrays(doctors: list[Doctor]) -> tuple[list[UUID], list[str], list[UUID], list[int]]:
    return (
        [d.user_id for d in doctors],
        [d.tenant for d in doctors],
        [d.facility_id for d in doctors],
        list(range(len(doctors))),
    )


PEOPLE_SQL = (
    f"INSERT INTO people (user_id, tenant, name, name_kana, profession, facility_id, facility_name, status, version) "
    f"SELECT d.user_id, d.tenant, 'ベンチ 医師' || d.n, 'ベンチ イシ' || d.n, 'doctor', d.facility_id, "
    f"'ベンチ診療所 ' || d.n, 'active', 1 FROM ({DOCTORS}) d"
)


async def seed_consent(dsn: str, doctors: list[Doctor], subjects: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        arrays = doctor_arrays(doctors)
        async with conn.transaction():
            await conn.execute(PEOPLE_SQL, *arrays)
            await conn.execute(
                "INSERT INTO subjects (id, tenant, name, name_kana, name_kana_folded, birth_date, "
                "municipality_code, registered_by, registered_at, status, version, lead_user_id, residence_network) "
                f"SELECT {SUBJECT_ID}, d.tenant, 'ベンチ 利用者' || d.n || '-' || g, 'ベンチ リヨウシャ' || g, "
                "'べんち りようしゃ' || g, date '1935-01-01' + g, $5, d.user_id, now() - interval '30 days', "
                f"'active', 1, d.user_id, d.tenant FROM ({DOCTORS}) d, generate_series(1, $6) g",
                *arrays,
                MUNICIPALITY,
                subjects,
            )
            await conn.execute(
                "INSERT INTO consents (id, tenant, subject_id, status, given_by, recorded_by, given_on) "
                "SELECT gen_random_uuid(), s.tenant, s.id, 'active', 'subject', s.registered_by, "
                "current_date - 30 FROM subjects s"
            )
            await conn.execute(
                "INSERT INTO care_team_members (subject_id, user_id, facility_id, added_by) "
                f"SELECT {SUBJECT_ID}, d.user_id, d.facility_id, d.user_id "
                f"FROM ({DOCTORS}) d, generate_series(1, $5) g",
                *arrays,
                subjects,
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def seed_timeline(
    dsn: str, doctors: list[Doctor], subjects: int, posts: int, progress: Callable[[str], None]
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        arrays = doctor_arrays(doctors)
        await conn.execute(PEOPLE_SQL, *arrays)
        await conn.execute(
            "INSERT INTO subject_access (subject_id, tenant, consent_active) "
            f"SELECT {SUBJECT_ID}, d.tenant, true FROM ({DOCTORS}) d, generate_series(1, $5) g",
            *arrays,
            subjects,
        )
        await conn.execute(
            "INSERT INTO care_team_members (subject_id, user_id, tenant) "
            f"SELECT {SUBJECT_ID}, d.user_id, d.tenant FROM ({DOCTORS}) d, generate_series(1, $5) g",
            *arrays,
            subjects,
        )
        # Building the secondary indexes once after the load is far cheaper than keeping them up row by row
        # (the trigram index above all); they are the migrations' own definitions, read back from the catalogue.
        indexes = await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'posts' AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        chunk = max(1, 200_000 // max(1, subjects * posts))  # about 200,000 posts a statement
        for start in range(0, len(doctors), chunk):
            part = doctor_arrays(doctors[start : start + chunk])
            part = (part[0], part[1], part[2], list(range(start, start + len(part[0]))))
            await conn.execute(
                "INSERT INTO posts (id, tenant, subject_id, author_id, facility_id, category, body, search_text, "
                f"created_at) SELECT gen_random_uuid(), d.tenant, {SUBJECT_ID}, d.user_id, d.facility_id, "
                "'visit', '訪問記録 ' || g || '-' || p || ' 体調は安定しています。', "
                "'訪問記録 ' || g || '-' || p || ' 体調は安定しています。', "
                "now() - make_interval(mins => p * 37 + g) "
                f"FROM ({DOCTORS}) d, generate_series(1, $5) g, generate_series(1, $6) p",
                *part,
                subjects,
                posts,
            )
            progress(f"posts of {start + len(part[0])}/{len(doctors)} doctors")
        for index in indexes:
            await conn.execute(index["indexdef"])
        progress("posts' indexes built")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def start_layout(
    layout: str, networks: int, subjects: int, posts: int
) -> tuple[Stack, list[Doctor], dict[str, float]]:
    """The layout's stack on databases of its own, filled; returns the stack, its doctors and phase times."""
    os.environ["YUI_DATABASE_PREFIX"] = f"yui_bench_tenancy_{layout}_"
    timings: dict[str, float] = {}
    started = time.perf_counter()
    stack = Stack()
    await stack.start(with_workers=False)
    timings["stack_start_s"] = round(time.perf_counter() - started, 1)
    doctors = doctors_of(layout, networks)

    def progress(what: str) -> None:
        print(f"  {layout}: {what} ({time.perf_counter() - started:.0f} s)", flush=True)

    phase = time.perf_counter()
    await seed_identity(stack, doctors)
    await seed_consent(asyncpg_dsn(stack["consent"].settings.dsn), doctors, subjects)
    timings["seed_identity_consent_s"] = round(time.perf_counter() - phase, 1)
    progress("identity and consent seeded")
    phase = time.perf_counter()
    await seed_timeline(asyncpg_dsn(stack["timeline"].settings.dsn), doctors, subjects, posts, progress)
    timings["seed_timeline_s"] = round(time.perf_counter() - phase, 1)
    return stack, doctors, timings


def subject_ids(doctor: Doctor, subjects: int) -> list[UUID]:
    """The ids the generator gave this doctor's subjects (md5 of "<doctor id>:<n>", as PostgreSQL computes it)."""
    import hashlib

    return [UUID(hashlib.md5(f"{doctor.user_id}:{g}".encode()).hexdigest()) for g in range(1, subjects + 1)]


@dataclass
class SignedIn:
    browser: Browser
    subjects: list[UUID]


async def sign_in_doctors(stack: Stack, doctors: list[Doctor], clients: int, subjects: int) -> list[SignedIn]:
    """``clients`` doctors spread over the layout (in "many", each in another network), signed in to the portal."""
    step = max(1, len(doctors) // clients)
    chosen = doctors[::step][:clients]
    signed = []
    for doctor in chosen:
        person = Person(
            doctor.user_id,
            doctor.facility_id,
            doctor.tenant,
            doctor.login_id,
            "ベンチ 医師",
            Codes(doctor.secret),
        )
        browser = await sign_in(stack, person, password=PASSWORD)
        signed.append(SignedIn(browser, subject_ids(doctor, subjects)))
    return signed


Fetch = Callable[[], Awaitable[httpx.Response]]


def fetcher(signed: list[SignedIn], page: str) -> Fetch:
    def fetch() -> Awaitable[httpx.Response]:
        me = random.choice(signed)
        if page == "timeline":
            return me.browser.get(f"/staff/subjects/{random.choice(me.subjects)}/timeline")
        return me.browser.get("/staff")

    return fetch


async def check_pages(signed: list[SignedIn], layout: str) -> None:
    """Each page shows the doctor's own data (not an error page, not an empty one) before it is timed."""
    me = signed[0]
    home = await me.browser.get("/staff")
    assert home.status_code == 200 and "ベンチ 利用者" in home.text, (
        layout,
        home.status_code,
        home.text[:300],
    )
    timeline = await me.browser.get(f"/staff/subjects/{me.subjects[0]}/timeline")
    assert timeline.status_code == 200 and "訪問記録" in timeline.text, (layout, timeline.status_code)


# What each page shows only when every service it calls answered: the home leaves out a part whose service
# failed (portal.staff.pages.optional), so a 200 alone does not prove a complete page.
# The timeline: a post; the home: a subject (consent's list) and a post's excerpt (timeline's feed).
MARKERS = {"timeline": ("訪問記録",), "home": ("ベンチ 利用者", "訪問記録")}


async def closed_loop(
    fetch: Fetch,
    seconds: float,
    concurrency: int,
    latencies: list[float],
    markers: tuple[str, ...],
    incomplete: list[int],
) -> None:
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await fetch()
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (response.request.url, response.status_code)
            if not all(marker in response.text for marker in markers):
                incomplete.append(1)

    await asyncio.gather(*(one_client() for _ in range(concurrency)))


def summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "per_second": round(len(ordered) / seconds, 2),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def verdict(many: dict[str, float], one: dict[str, float]) -> dict[str, Any]:
    """Many networks against one: each figure within ``TARGET``, every page timed a complete one."""
    ratios = {
        "p50": round(many["p50_ms"] / one["p50_ms"], 3),
        "p95": round(many["p95_ms"] / one["p95_ms"], 3),
        "per_second": round(many["per_second"] / max(one["per_second"], 0.01), 3),
    }
    met = {
        "p50": ratios["p50"] <= 1 + TARGET,
        "p95": ratios["p95"] <= 1 + TARGET,
        "per_second": ratios["per_second"] >= 1 - TARGET,
    }
    complete = many["incomplete"] == 0 and one["incomplete"] == 0
    return {
        "many_over_one": ratios,
        "met": met,
        "complete_pages_only": complete,
        "all_met": all(met.values()),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    networks, subjects, posts = args.networks, args.subjects, args.posts
    result: dict[str, Any] = {
        "benchmark": "tenancy",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
        "arguments": vars(args),
        "data": {
            "networks_many": networks,
            "doctors": networks,
            "subjects_per_doctor": subjects,
            "posts_per_subject": posts,
            "subjects_total": networks * subjects,
            "posts_total_per_layout": networks * subjects * posts,
        },
        "timings": {},
        "pages": {},
    }
    begun = time.perf_counter()
    with ExitStack() as exits, tempfile.TemporaryDirectory(prefix="yui-bench-tenancy-") as tmp:
        found = infrastructure.start(exits, "master", Path(tmp))
        if found.uses_local_rabbitmq:
            infrastructure.rabbitmqctl("delete_vhost", found.amqp_vhost)
            infrastructure.ensure_vhost(found.amqp_vhost)
        infrastructure.export(found)
        # Two stacks share the server's connections with everyone on the machine: small pools.
        os.environ["YUI_DATABASE_POOL_SIZE"] = "2"
        os.environ["YUI_DATABASE_MAX_OVERFLOW"] = str(args.pool_overflow)
        stacks: dict[str, Stack] = {}
        try:
            signed: dict[str, list[SignedIn]] = {}
            for layout in LAYOUTS:
                print(f"{layout}: starting and seeding", flush=True)
                stack, doctors, timings = await start_layout(layout, networks, subjects, posts)
                stacks[layout] = stack
                result["timings"][layout] = timings
                signed[layout] = await sign_in_doctors(stack, doctors, args.clients, subjects)
                await check_pages(signed[layout], layout)
            result["timings"]["setup_s"] = round(time.perf_counter() - begun, 1)
            for page in ("timeline", "home"):
                fetches = {layout: fetcher(signed[layout], page) for layout in LAYOUTS}
                for fetch in fetches.values():  # warm-up: templates compiled, pools filled, caches primed
                    await closed_loop(fetch, 2, args.concurrency, [], MARKERS[page], [])
                measured: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
                incomplete: dict[str, list[int]] = {layout: [] for layout in LAYOUTS}
                for _ in range(args.rounds):
                    for layout in LAYOUTS:
                        await closed_loop(
                            fetches[layout],
                            args.seconds / args.rounds,
                            args.concurrency,
                            measured[layout],
                            MARKERS[page],
                            incomplete[layout],
                        )
                figures = {
                    layout: {**summary(measured[layout], args.seconds), "incomplete": len(incomplete[layout])}
                    for layout in LAYOUTS
                }
                result["pages"][page] = {**figures, "verdict": verdict(figures["many"], figures["one"])}
                print(table_of(page, result["pages"][page]), flush=True)
        finally:
            for layout, stack in stacks.items():
                try:
                    await asyncio.wait_for(stack.close(), 60)
                except TimeoutError:
                    print(f"tenancy: the {layout} stack did not stop within 60 s", file=sys.stderr)
            if not args.keep:
                for layout in LAYOUTS:
                    os.environ["YUI_DATABASE_PREFIX"] = f"yui_bench_tenancy_{layout}_"
                    for svc in SERVICES:
                        await reset_database(_settings(svc))
            if found.uses_local_rabbitmq:
                infrastructure.rabbitmqctl("delete_vhost", found.amqp_vhost)
    result["timings"]["total_s"] = round(time.perf_counter() - begun, 1)
    result["machine"]["load_average_at_end"] = os.getloadavg()
    return result


def _settings(service: str) -> Any:
    from tests.support.stack import settings_for

    return settings_for(service)


def table_of(page: str, figures: dict[str, Any]) -> str:
    lines = [f"{page:9}{'layout':8}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'incomplete':>11}"]
    for layout in LAYOUTS:
        f = figures[layout]
        lines.append(
            f"{'':9}{layout:8}{f['per_second']:8.1f}{f['p50_ms']:9.1f}{f['p95_ms']:9.1f}{f['max_ms']:9.1f}"
            f"{f['incomplete']:11d}"
        )
    v = figures["verdict"]
    parts = [
        f"{name} many/one {v['many_over_one'][name]:.2f} {'met' if v['met'][name] else 'MISSED'}"
        for name in ("p50", "p95", "per_second")
    ]
    lines.append(f"{'':9}within {TARGET:.0%}: " + "; ".join(parts))
    if not v["complete_pages_only"]:
        lines.append(f"{'':9}some pages lacked a part (a service failed under them): see 'incomplete'")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the 100 networks (S and P kept)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 networks x 10 subjects x 10 posts")
    parser.add_argument(
        "--subjects", type=int, default=200, help="subjects per doctor (= per network in 'many')"
    )
    parser.add_argument("--posts", type=int, default=200, help="posts per subject")
    parser.add_argument("--seconds", type=float, default=30.0, help="per page and layout")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per page")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4, help="doctors signed in per layout")
    parser.add_argument("--pool-overflow", type=int, default=2, help="each service's pool overflow")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases afterwards")
    args = parser.parse_args()
    if args.quick:
        args.networks, args.subjects, args.posts = 3, 10, 10
        args.seconds, args.clients = min(args.seconds, 4.0), min(args.clients, 3)
    else:
        args.networks = max(2, round(100 * args.scale))
    os.environ["YUI_TEST_RUN"] = "bench_tenancy"  # its own RabbitMQ vhost, never a test run's
    os.environ.setdefault("YUI_LOG_LEVEL", "WARNING")
    result = asyncio.run(measure(args))
    path = write_results(result, "tenancy")
    data = result["data"]
    print(
        f"\n{data['networks_many']} networks x {data['subjects_per_doctor']} subjects x "
        f"{data['posts_per_subject']} posts ({data['posts_total_per_layout']:,} posts per layout) against one "
        f"network with the same; setup {result['timings']['setup_s']:.0f} s, total {result['timings']['total_s']:.0f} s"
    )
    for page, figures in result["pages"].items():
        print(table_of(page, figures))
    print(f"raw: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
