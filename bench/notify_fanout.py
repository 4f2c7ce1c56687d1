"""Notify fan-out benchmark: one post on a subject whose care team has 50 members (besides its author) → every
member has the notification in their inbox, and on an open live connection (server-sent events).

For each of ``--posts`` posts (default 20): the post is written through timeline's API; from that request
(its 201, timeline's commit, is recorded too) the clock runs until
  (a) inbox: notify's database holds the post's notification for all 50 members (polled every ``--poll-ms``);
  (b) live: each of the 50 members' open ``GET /notifications/stream`` connections (real HTTP, uvicorn) has
      received the event; per member and for the last of the 50.
The path measured: timeline's outbox → relay → RabbitMQ → notify's inbox-guarded consumer (50 rows, one
commit, one pg_notify statement) → the API process's one LISTEN connection → its live hub's one read for the
batch → each stream's socket. "live behind the inbox" (per post: the last stream's arrival minus the moment
the last inbox row was seen) is the live path alone, what is left when the shared consumer path is taken out:
on a loaded machine the ratio of the two says more than either figure.

The stack is the in-process one the tests use (tests/support/stack.py), isolated as test run ``bench_notify``.
Prints p50/p99; raw numbers go to bench/results/notify-fanout-<timestamp>.json.
Run: ``uv run python bench/notify_fanout.py [--posts 20] [--members 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import asyncpg  # noqa: E402
from bus import write_results  # noqa: E402
from notify import repository  # noqa: E402
from yui_common.db import asyncpg_dsn  # noqa: E402

from services.notify.tests.notify_support import EventStream, open_stream, served  # noqa: E402
from services.timeline.tests.timeline_support import create_post, subject_with_team  # noqa: E402
from tests.support import infrastructure  # noqa: E402
from tests.support.stack import Stack, Staff  # noqa: E402


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p99": percentile(values, 0.99),
        "max": max(values),
        "n": len(values),
    }


async def notify_knows_team(stack: Stack, subject_id: UUID, members: list[Staff]) -> None:
    async with stack["notify"].sessionmaker() as session, session.begin():
        for member in members:
            await repository.add_member(session, tenant="demo", subject_id=subject_id, user_id=member.user_id)


async def in_inboxes(probe: asyncpg.Connection, post_id: str) -> int:
    # A connection of its own: waiting for the API's pool (which the streams use) would be counted as latency.
    return int(
        await probe.fetchval("SELECT count(*) FROM notifications WHERE params->>'post_id' = $1", post_id)
    )


async def one_post(
    stack: Stack,
    probe: asyncpg.Connection,
    streams: list[tuple[Staff, EventStream]],
    members: list[Staff],
    author: Staff,
    subject_id: UUID,
    poll_s: float,
) -> dict[str, Any]:
    arrivals: list[float] = []
    started = time.perf_counter()
    post = await create_post(stack, author, subject_id, "訪問しました")
    committed = time.perf_counter()

    async def listen(stream: EventStream) -> None:
        while True:
            event = await stream.next_event()
            if json.loads(event["data"])["params"].get("post_id") == post["id"]:
                arrivals.append(time.perf_counter())
                return

    async def inboxes() -> float:
        while True:
            if await in_inboxes(probe, post["id"]) >= len(members):
                return time.perf_counter()
            await asyncio.sleep(poll_s)

    listening = asyncio.gather(*(listen(s) for _, s in streams))
    inbox_at, _ = await asyncio.wait_for(asyncio.gather(inboxes(), listening), 120)
    live_ms = [(at - started) * 1000 for at in arrivals]
    return {
        "post_api_ms": (committed - started) * 1000,
        "inbox_all_ms": (inbox_at - started) * 1000,
        "live_all_ms": max(live_ms, default=0.0),
        "live_behind_inbox_ms": max(live_ms, default=0.0) - (inbox_at - started) * 1000,
        "live_each_ms": live_ms,
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as exits, tempfile.TemporaryDirectory(prefix="yui-bench-notify-") as tmp:
        found = infrastructure.start(exits, "master", Path(tmp))
        if found.uses_local_rabbitmq:
            infrastructure.rabbitmqctl("delete_vhost", found.amqp_vhost)
            infrastructure.ensure_vhost(found.amqp_vhost)
        infrastructure.export(found)
        stack = Stack()
        await stack.start()
        try:
            author = stack.staff()
            members = [stack.staff() for _ in range(args.members)]
            subject_id = await subject_with_team(stack, author, *members)
            await notify_knows_team(stack, subject_id, [author, *members])
            await asyncio.wait_for(stack["notify"].app.state.live_hub.listening.wait(), 30)
            probe = await asyncpg.connect(asyncpg_dsn(stack["notify"].settings.dsn))
            async with served(stack["notify"].app) as base_url, contextlib.AsyncExitStack() as connections:
                connections.push_async_callback(probe.close)
                # The members' browsers: one open stream each for the whole run, as a staff UI keeps it.
                streams = [
                    (m, await connections.enter_async_context(open_stream(base_url, m)))
                    for m in (members if args.streams else [])
                ]
                for _, stream in streams:
                    await stream.ready()
                runs = [
                    await one_post(stack, probe, streams, members, author, subject_id, args.poll_ms / 1000)
                    for _ in range(args.posts)
                ]
        finally:
            await stack.close()
    return {
        "benchmark": "notify-fanout",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "arguments": {
            "posts": args.posts,
            "members": args.members,
            "poll_ms": args.poll_ms,
            "streams": args.streams,
        },
        "post_api_ms": summary([r["post_api_ms"] for r in runs]),
        "inbox_all_ms": summary([r["inbox_all_ms"] for r in runs]),
        "live_all_ms": summary([r["live_all_ms"] for r in runs]),
        "live_each_ms": summary([ms for r in runs for ms in r["live_each_ms"]] or [0.0]),
        "live_behind_inbox_ms": summary([r["live_behind_inbox_ms"] for r in runs]),
        "runs": runs,
    }


def table(result: dict[str, Any]) -> str:
    arguments = result["arguments"]
    lines = [
        f"post → {arguments['members']} care-team members notified, {arguments['posts']} posts "
        f"(inbox polled every {arguments['poll_ms']} ms; "
        f"{'a live stream open per member' if arguments['streams'] else 'no live streams open'})",
        f"{'':40}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
    ]
    for key, label in (
        ("post_api_ms", "timeline answers 201 (commit)"),
        ("inbox_all_ms", "all members have it in the inbox"),
        ("live_all_ms", "all members' live streams have it"),
        ("live_each_ms", "one member's live stream has it"),
        ("live_behind_inbox_ms", "live behind the inbox (last stream)"),
    ):
        if key.startswith("live_") and not arguments["streams"]:
            continue
        figures = result[key]
        lines.append(f"{label:40}{figures['p50']:10.1f}{figures['p99']:10.1f}{figures['max']:10.1f}")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=20, help="posts to time (default 20)")
    parser.add_argument(
        "--members", type=int, default=50, help="care-team members besides the author (default 50)"
    )
    parser.add_argument("--poll-ms", type=float, default=5.0, help="inbox polling interval (default 5 ms)")
    parser.add_argument(
        "--no-streams", dest="streams", action="store_false", help="inbox only: no live connections open"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    os.environ["YUI_TEST_RUN"] = "bench_notify"
    os.environ.setdefault("YUI_LOG_LEVEL", "WARNING")
    result = asyncio.run(measure(args))
    path = write_results(result, "notify-fanout")
    print(table(result))
    print(f"\nraw numbers: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
