"""Subject search and duplicate-check latency over a network of 50,000 subjects (consent service).

Setup (not measured): ``--subjects`` subjects (default 50,000) in one network, written in one INSERT, with
kana names drawn from 50 family × 50 given names and spread birth dates; two staff users: a "wide" one on
every subject's care team (a municipal officer, the worst case for a search restricted to one's own
subjects) and a "typical" one on ``--team-size`` teams (default 200).

Measured, each request through the consent API in process (token check, SQL, audit entry, commit):
  * GET /subjects?kana=<prefix> for the wide and the typical user, the prefix typed in hiragana (folded to
    katakana by the service), ``--requests`` times each;
  * POST /subjects of a person already registered (same kana and birth date), answered 409 with the
    candidates (c9), ``--requests`` times.
Prints p50/p99 per case; raw numbers to bench/results/consent_subjects-<timestamp>.json.
The stack is the tests' in-process one, isolated as test run ``bench_consent``.
Run: ``uv run python bench/consent_subjects.py [--subjects 50000] [--requests 300]``.
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
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bus import write_results  # noqa: E402
from sqlalchemy import text  # noqa: E402

from tests.support import infrastructure  # noqa: E402
from tests.support.stack import Stack, Staff  # noqa: E402

FAMILY = [
    "サトウ",
    "スズキ",
    "タカハシ",
    "タナカ",
    "イトウ",
    "ワタナベ",
    "ヤマモト",
    "ナカムラ",
    "コバヤシ",
    "カトウ",
    "ヨシダ",
    "ヤマダ",
    "ササキ",
    "ヤマグチ",
    "マツモト",
    "イノウエ",
    "キムラ",
    "ハヤシ",
    "サイトウ",
    "シミズ",
    "ヤマザキ",
    "モリ",
    "アベ",
    "イケダ",
    "ハシモト",
    "ヤマシタ",
    "イシカワ",
    "ナカジマ",
    "マエダ",
    "フジタ",
    "オガワ",
    "ゴトウ",
    "オカダ",
    "ハセガワ",
    "ムラカミ",
    "コンドウ",
    "イシイ",
    "サカモト",
    "エンドウ",
    "アオキ",
    "フジイ",
    "ニシムラ",
    "フクダ",
    "オオタ",
    "ミウラ",
    "フジワラ",
    "オカモト",
    "マツダ",
    "ナカガワ",
    "ユイ",
]
GIVEN = [
    "タロウ",
    "ハナコ",
    "イチロウ",
    "ジロウ",
    "サブロウ",
    "ヨシコ",
    "カズコ",
    "ケイコ",
    "ヒロシ",
    "タカシ",
    "マサコ",
    "ミチコ",
    "アキラ",
    "マコト",
    "ススム",
    "シゲル",
    "ヨウコ",
    "トシコ",
    "キヨシ",
    "イサム",
    "フミコ",
    "ハルコ",
    "ノボル",
    "ミノル",
    "ツトム",
    "セツコ",
    "ヒデオ",
    "カツミ",
    "サチコ",
    "ヤスコ",
    "ユキコ",
    "トモコ",
    "マサル",
    "ヒロコ",
    "ノリコ",
    "タダシ",
    "オサム",
    "エミコ",
    "ミツコ",
    "ヒサコ",
    "テツオ",
    "シズコ",
    "ナオコ",
    "ユタカ",
    "カズオ",
    "マサオ",
    "キミコ",
    "チヨコ",
    "トミコ",
    "ユイ",
]


def hiragana(katakana: str) -> str:
    return katakana.translate({c: c - 0x60 for c in range(0x30A1, 0x30F7)})


async def populate(stack: Stack, subjects: int, wide: Staff, typical: Staff, team_size: int) -> None:
    async with stack["consent"].sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO subjects (id, tenant, name, name_kana, name_kana_folded, birth_date, sex, "
                "municipality_code, registered_by, registered_at, residence_network) "
                "SELECT gen_random_uuid(), 'demo', '対象 ' || n, f.k || ' ' || g.k, f.k || g.k, "
                "date '1925-01-01' + (n * 7919 % 30000), 'unknown', '232360', :user, now(), 'demo' "
                "FROM generate_series(1, :n) AS n, "
                "LATERAL (SELECT (CAST(:family AS text[]))[1 + n % 50] AS k) f, "
                "LATERAL (SELECT (CAST(:given AS text[]))[1 + (n / 50) % 50] AS k) g"
            ),
            {"n": subjects, "user": wide.user_id, "family": FAMILY, "given": GIVEN},
        )
        await session.execute(
            text(
                "INSERT INTO care_team_members (subject_id, user_id, facility_id, added_by) "
                "SELECT id, :user, :facility, :user FROM subjects WHERE tenant = 'demo'"
            ),
            {"user": wide.user_id, "facility": wide.facility_id},
        )
        await session.execute(
            text(
                "INSERT INTO care_team_members (subject_id, user_id, facility_id, added_by) "
                "SELECT id, :user, :facility, :user FROM subjects WHERE tenant = 'demo' "
                "ORDER BY md5(id::text) LIMIT :size"
            ),
            {"user": typical.user_id, "facility": typical.facility_id, "size": team_size},
        )
    # Committed: statistics gathered by ANALYZE in a rolled-back transaction are rolled back with it.
    async with stack["consent"].sessionmaker() as session, session.begin():
        await session.execute(text("ANALYZE subjects"))
        await session.execute(text("ANALYZE care_team_members"))


async def timed(call: Any) -> float:
    started = time.perf_counter()
    response = await call()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code not in (200, 409):
        raise SystemExit(f"unexpected {response.status_code}: {response.text[:300]}")
    return elapsed


async def searches(stack: Stack, staff: Staff, requests: int, rng: random.Random) -> list[float]:
    client = stack["consent"].client
    times = []
    for _ in range(requests):
        prefix = hiragana(rng.choice(FAMILY))[: rng.choice((2, 3))]
        times.append(
            await timed(lambda p=prefix: client.get("/subjects", params={"kana": p}, headers=staff.headers))
        )
    return times


async def duplicate_checks(stack: Stack, staff: Staff, requests: int, rng: random.Random) -> list[float]:
    async with stack["consent"].sessionmaker() as session:
        people = (
            await session.execute(
                text("SELECT name_kana, birth_date FROM subjects ORDER BY random() LIMIT :n"), {"n": requests}
            )
        ).all()
    client = stack["consent"].client
    times = []
    for kana, birth in people:
        body = {
            "name": "重複 確認",
            "name_kana": hiragana(kana),
            "birth_date": str(birth),
            "municipality_code": "232360",
        }
        times.append(await timed(lambda b=body: client.post("/subjects", json=b, headers=staff.headers)))
    return times


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
        "n": len(ordered),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(4)
    with ExitStack() as exits, tempfile.TemporaryDirectory(prefix="yui-bench-consent-") as tmp:
        found = infrastructure.start(exits, "master", Path(tmp))
        if found.uses_local_rabbitmq:
            infrastructure.rabbitmqctl("delete_vhost", found.amqp_vhost)
            infrastructure.ensure_vhost(found.amqp_vhost)
        infrastructure.export(found)
        stack = Stack()
        await stack.start()
        try:
            wide, typical = stack.staff(), stack.staff()
            setup_started = time.perf_counter()
            await populate(stack, args.subjects, wide, typical, args.team_size)
            setup_s = time.perf_counter() - setup_started
            # Warm the pools and plans so the first figures are not connection set-up.
            await searches(stack, wide, 20, rng)
            cases = {
                "search_wide_team_ms": summary(await searches(stack, wide, args.requests, rng)),
                "search_typical_team_ms": summary(await searches(stack, typical, args.requests, rng)),
                "duplicate_check_409_ms": summary(await duplicate_checks(stack, typical, args.requests, rng)),
            }
        finally:
            await stack.close()
    return {
        "benchmark": "consent_subjects",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "arguments": vars(args),
        "setup_s": setup_s,
        **cases,
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"consent over {result['arguments']['subjects']:,} subjects, "
        f"{result['arguments']['requests']} requests per case",
        f"{'':44}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
    ]
    for key, label in (
        ("search_wide_team_ms", "search, user on every team"),
        ("search_typical_team_ms", f"search, user on {result['arguments']['team_size']} teams"),
        ("duplicate_check_409_ms", "register a likely duplicate → 409"),
    ):
        lines.append(
            f"{label:44}{result[key]['p50']:10.1f}{result[key]['p99']:10.1f}{result[key]['max']:10.1f}"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--subjects", type=int, default=50_000, help="subjects in the network (default 50000)"
    )
    parser.add_argument("--requests", type=int, default=300, help="requests per case (default 300)")
    parser.add_argument(
        "--team-size", type=int, default=200, help="teams the typical user is on (default 200)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # A run of its own: never the databases or vhost of tests or of another bench going on beside it.
    os.environ["YUI_TEST_RUN"] = "bench_consent"
    os.environ.setdefault("YUI_LOG_LEVEL", "WARNING")
    result = asyncio.run(measure(args))
    path = write_results(result, "consent_subjects")
    print(table(result))
    print(f"\nraw numbers: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
