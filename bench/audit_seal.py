"""Audit sealing: does the worker's sealer keep up with 2,000 audited requests/s, and how long does a verify
of 1 M entries take?

Phase 1 writes audit entries the way a request does (one transaction, one INSERT of an entry with its content
hash, no lock) at ``--rate`` per second for ``--seconds`` from 16 connections, while a sealer seals every
``--interval`` seconds and exports each signed head to S3. Twice a second it samples the unsealed backlog
(entries, and the age of the oldest): the target is a backlog under 2 s throughout.

Phase 2 fills the log to ``--verify-rows`` entries (COPY in transactions of 10,000, sealed as it goes) and
times one full verification: every entry against its content hash and seal, every seal's head and signature,
and the newest seal against its exported signed head. ``--verify-rows 0`` skips it (it is slow on 2 cores).

Results go to bench/results/audit_seal-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(REPO), str(BENCH)]

from bus import write_results  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402
from yui_common.audit import entry_hash  # noqa: E402
from yui_common.audit_seal import AuditKey, AuditSealer, SealHeads, ensure_audit_key, verify_log  # noqa: E402
from yui_common.db import asyncpg_dsn, create_sessionmaker  # noqa: E402
from yui_common.schema import create_infrastructure  # noqa: E402
from yui_common.settings import CommonSettings  # noqa: E402

from tests.support import infrastructure  # noqa: E402

WRITERS = 16
COPY_BATCH = 10_000
INSERT = (
    "INSERT INTO audit_log (id, occurred_at, tenant, actor_id, facility_id, subject_id, action, target, detail, "
    "trace_id, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)"
)
COLUMNS = (
    "id",
    "occurred_at",
    "tenant",
    "actor_id",
    "facility_id",
    "subject_id",
    "action",
    "target",
    "detail",
    "trace_id",
    "hash",
)


class BenchSettings(CommonSettings):
    service_name = "bench_audit"


def entry() -> tuple[Any, ...]:
    fields: dict[str, Any] = {
        "id": str(uuid4()),
        "occurred_at": datetime.now(UTC),
        "tenant": "demo",
        "actor_id": str(uuid4()),
        "facility_id": str(uuid4()),
        "subject_id": str(uuid4()),
        "action": "timeline.page",
        "target": None,
        "detail": {"posts": 50},
        "trace_id": uuid4().hex,
    }
    digest = entry_hash(fields)
    return (*fields.values(), digest)


def as_insert_args(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (*row[:8], json.dumps(row[8]), *row[9:])


async def write_at_rate(dsn: str, rate: float, seconds: float) -> int:
    """Paced writers: request i starts at i / rate; each is its own transaction with one INSERT."""
    pool = await asyncpg.create_pool(dsn, min_size=WRITERS, max_size=WRITERS)
    written = 0
    start = time.monotonic()
    total = int(rate * seconds)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)

    async def writer() -> None:
        nonlocal written
        while not queue.empty():
            i = queue.get_nowait()
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await pool.execute(INSERT, *as_insert_args(entry()))
            written += 1

    try:
        await asyncio.gather(*(writer() for _ in range(WRITERS)))
    finally:
        await pool.close()
    return written


async def keep_sealing(sealer: AuditSealer, interval: float, stop: asyncio.Event, seals: list[int]) -> None:
    while not stop.is_set():
        seal = await sealer.run_round()
        if seal is not None:
            seals.append(seal.row_count)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def sample_backlog(dsn: str, stop: asyncio.Event, samples: list[tuple[int, float]]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            row = await conn.fetchrow(
                "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(occurred_at)), 0)::float AS age "
                "FROM audit_log WHERE xact_id >= "
                "(SELECT coalesce(max(xid_upper), 0) FROM audit_seals)::text::xid8"
            )
            samples.append((int(row["n"]), float(row["age"])))
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def throughput(
    settings: CommonSettings, sealer: AuditSealer, args: argparse.Namespace
) -> dict[str, Any]:
    dsn = asyncpg_dsn(settings.dsn)
    stop = asyncio.Event()
    seals: list[int] = []
    samples: list[tuple[int, float]] = []
    sealing = asyncio.create_task(keep_sealing(sealer, args.interval, stop, seals))
    sampling = asyncio.create_task(sample_backlog(dsn, stop, samples))
    started = time.monotonic()
    written = await write_at_rate(dsn, args.rate, args.seconds)
    elapsed = time.monotonic() - started
    # Drained: the last entries sealed too.
    drain_started = time.monotonic()
    while samples and samples[-1][0] > 0 and time.monotonic() - drain_started < 30:  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(sealing, sampling)
    ages = [age for _, age in samples]
    backlog = [n for n, _ in samples]
    return {
        "target_rate": args.rate,
        "achieved_rate": round(written / elapsed, 1),
        "written": written,
        "seals": len(seals),
        "entries_per_seal_p50": statistics.median(seals) if seals else 0,
        "backlog_entries_max": max(backlog, default=0),
        "backlog_age_s_p50": round(statistics.median(ages), 3) if ages else 0,
        "backlog_age_s_max": round(max(ages, default=0), 3),
        "backlog_under_2s": max(ages, default=0) < 2.0,
    }


async def fill(settings: CommonSettings, sealer: AuditSealer, rows: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings.dsn))
    try:
        have = int(await conn.fetchval("SELECT count(*) FROM audit_log"))
        copies = 0
        while have < rows:
            batch = [entry() for _ in range(min(COPY_BATCH, rows - have))]
            records = [(*row[:8], json.dumps(row[8]), *row[9:]) for row in batch]
            await conn.copy_records_to_table("audit_log", records=records, columns=COLUMNS)
            have += len(batch)
            copies += 1
            if copies % 10 == 0:
                await sealer.run_round()
                print(f"  {have:,} entries", flush=True)
    finally:
        await conn.close()
    while await sealer.run_round() is not None:
        pass


async def verification(
    settings: CommonSettings, sealer: AuditSealer, heads: SealHeads, rows: int
) -> dict[str, Any]:
    await fill(settings, sealer, rows)
    engine = create_async_engine(settings.dsn)
    try:
        async with create_sessionmaker(engine)() as session:
            started = time.monotonic()
            result = await verify_log(session, heads=heads, public_key=sealer.key.public)
            seconds = time.monotonic() - started
    finally:
        await engine.dispose()
    return {
        "entries": result.entries_checked,
        "seals": result.seals_checked,
        "breaks": len(result.breaks),
        "heads_checked_through": result.heads_checked_through,
        "seconds": round(seconds, 2),
        "entries_per_s": round(result.entries_checked / seconds),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    # PostgreSQL and S3 only: no broker is touched, so none is prepared.
    os.environ.setdefault("YUI_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")
    os.environ.setdefault("YUI_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
    with ExitStack() as exits, tempfile.TemporaryDirectory(prefix="yui-bench-audit-") as tmp:
        found = infrastructure.start(exits, "master", Path(tmp))
        infrastructure.export(found)
        settings = BenchSettings(database_pool_size=4)
        server = await asyncpg.connect(asyncpg_dsn(settings.postgres_url.rstrip("/") + "/postgres"))
        await server.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')
        await server.execute(f'CREATE DATABASE "{settings.database_name}"')
        engine = create_async_engine(settings.dsn, pool_size=4)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(create_infrastructure)
            key = AuditKey.from_file(ensure_audit_key(Path(tmp) / "bench.pem"))
            heads = SealHeads(settings)
            await heads.ensure_bucket()
            sealer = AuditSealer(engine=engine, key=key, heads=heads, log=heads.log)
            print(f"phase 1: {args.rate:.0f} audited requests/s for {args.seconds:.0f} s", flush=True)
            sealing = await throughput(settings, sealer, args)
            print(json.dumps(sealing), flush=True)
            verified = None
            if args.verify_rows:
                print(f"phase 2: fill to {args.verify_rows:,} entries, then verify", flush=True)
                verified = await verification(settings, sealer, heads, args.verify_rows)
                print(json.dumps(verified), flush=True)
        finally:
            await engine.dispose()
            await server.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')
            await server.close()
    return {
        "benchmark": "audit_seal",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "arguments": vars(args),
        "object_lock": heads.object_lock,
        "sealing": sealing,
        "verify": verified,
    }


def table(result: dict[str, Any]) -> str:
    sealing = result["sealing"]
    lines = [
        f"sealing at {sealing['target_rate']:.0f} audited requests/s (achieved {sealing['achieved_rate']}/s), "
        f"one seal every {result['arguments']['interval']} s: {sealing['seals']} seals, "
        f"p50 {sealing['entries_per_seal_p50']} entries each",
        f"  unsealed backlog: max {sealing['backlog_entries_max']} entries; age p50 "
        f"{sealing['backlog_age_s_p50']} s, max {sealing['backlog_age_s_max']} s "
        f"({'under' if sealing['backlog_under_2s'] else 'NOT under'} 2 s)",
    ]
    verified = result["verify"]
    if verified:
        lines.append(
            f"verify of {verified['entries']:,} entries in {verified['seals']} seals: {verified['seconds']} s "
            f"({verified['entries_per_s']:,} entries/s), {verified['breaks']} breaks, signed heads match "
            f"through seal {verified['heads_checked_through']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=2000.0, help="audited requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of phase 1")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between seals")
    parser.add_argument("--verify-rows", type=int, default=1_000_000, help="entries to verify (0: skip)")
    args = parser.parse_args(argv)
    os.environ.setdefault("YUI_TEST_RUN", "bench_audit")
    result = asyncio.run(measure(args))
    print(table(result))
    path = write_results(result, "audit_seal")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
