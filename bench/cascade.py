"""Withdrawal cascade benchmark: a withdrawal's commit → timeline refusing the subject → consent showing done.

For each of ``--subjects`` subjects (default 5): a subject with a care team and an active consent, timeline
holding ``--posts`` posts about them (default 10,000: one written through the API, the rest cloned from it in
one INSERT — setup, not measured). Then POST /subjects/{id}/withdrawals, and from its 201 (the commit)
poll, every ``--poll-ms`` milliseconds, until
  (a) timeline refuses the subject's posts (GET /subjects/{id}/posts → 410), and
  (b) consent shows the cascade complete (GET /subjects/{id}/withdrawals → complete).

The stack is the in-process one the tests use (tests/support/stack.py: every service's API and worker in this
process, on real PostgreSQL and RabbitMQ), isolated as test run ``bench_cascade`` (databases
``yui_test_bench_cascade_*``, vhost ``yui-test-bench-cascade``). Prints p50/max; raw numbers go to
bench/results/cascade-<timestamp>.json.
Run: ``uv run python bench/cascade.py [--subjects 5] [--posts 10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
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

from bus import write_results  # noqa: E402
from sqlalchemy import text  # noqa: E402

from services.timeline.tests.test_attachments import upload  # noqa: E402
from services.timeline.tests.timeline_support import png_bytes  # noqa: E402
from tests.e2e.test_cascade import post_when_allowed, register_subject_with_team  # noqa: E402
from tests.support import infrastructure  # noqa: E402
from tests.support.stack import Stack  # noqa: E402


async def clone_posts(stack: Stack, template: UUID, copies: int) -> None:
    """``copies`` posts like ``template`` (new ids, one minute apart), straight into timeline's database."""
    async with stack["timeline"].sessionmaker() as session, session.begin():
        columns = [
            name
            for (name,) in await session.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'posts' "
                    "AND table_schema = current_schema() ORDER BY ordinal_position"
                )
            )
        ]
        chosen = {
            "id": "gen_random_uuid()",
            "created_at": "p.created_at - n * interval '1 minute'",
            "body": "p.body || ' ' || n",
        }
        select_list = ", ".join(chosen.get(c, f"p.{c}") for c in columns)
        await session.execute(
            text(
                f"INSERT INTO posts ({', '.join(columns)}) SELECT {select_list} "
                "FROM posts p, generate_series(1, :copies) AS n WHERE p.id = :template"
            ),
            {"copies": copies, "template": template},
        )
        await session.execute(text("ANALYZE posts"))


async def clone_attachments(stack: Stack, template: UUID, copies: int) -> None:
    """``copies`` attachments like ``template`` (new ids and object keys), straight into timeline's database."""
    async with stack["timeline"].sessionmaker() as session, session.begin():
        columns = [
            name
            for (name,) in await session.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'attachments' "
                    "AND table_schema = current_schema() ORDER BY ordinal_position"
                )
            )
        ]
        chosen = {"id": "gen_random_uuid()", "object_key": "a.object_key || '.copy' || n"}
        select_list = ", ".join(chosen.get(c, f"a.{c}") for c in columns)
        await session.execute(
            text(
                f"INSERT INTO attachments ({', '.join(columns)}) SELECT {select_list} "
                "FROM attachments a, generate_series(1, :copies) AS n WHERE a.id = :template"
            ),
            {"copies": copies, "template": template},
        )


async def one_withdrawal(stack: Stack, posts: int, attachments: int, poll_s: float) -> dict[str, Any]:
    doctor, nurse = stack.staff(), stack.staff()
    subject_id = await register_subject_with_team(stack, doctor, nurse)
    first = await post_when_allowed(stack, nurse, subject_id, "訪問記録")
    await clone_posts(stack, UUID(first["id"]), posts - 1)
    attachment_id = None
    if attachments:
        uploaded = await upload(stack, nurse, subject_id, png_bytes(), "褥瘡.png")
        assert uploaded.status_code == 201, uploaded.text
        attachment_id = uploaded.json()["id"]
        await clone_attachments(stack, UUID(attachment_id), attachments - 1)
    listed = await stack["timeline"].client.get(f"/subjects/{subject_id}/posts", headers=nurse.headers)
    assert listed.status_code == 200, listed.text

    withdrawn = await stack["consent"].client.post(
        f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
    )
    committed = time.perf_counter()
    assert withdrawn.status_code == 201, withdrawn.text

    async def refused() -> float:
        # Every read by staff: the subject's posts and their files.
        reads = [f"/subjects/{subject_id}/posts"]
        if attachment_id:
            reads.append(f"/attachments/{attachment_id}/download")
        while True:
            answers = [
                (await stack["timeline"].client.get(path, headers=nurse.headers)).status_code
                for path in reads
            ]
            if all(status == 410 for status in answers):
                return time.perf_counter()
            await asyncio.sleep(poll_s)

    async def complete() -> tuple[float, dict[str, Any]]:
        while True:
            response = await stack["consent"].client.get(
                f"/subjects/{subject_id}/withdrawals", headers=doctor.headers
            )
            latest = response.json()[0]
            if latest["complete"]:
                return time.perf_counter(), latest
            await asyncio.sleep(poll_s)

    refused_at, (complete_at, latest) = await asyncio.wait_for(asyncio.gather(refused(), complete()), 120)
    steps = {step["service"]: step["items_affected"] for step in latest["steps"]}
    if steps.get("timeline") != posts:
        raise SystemExit(f"timeline stopped {steps.get('timeline')} posts, expected {posts}")
    return {
        "timeline_refuses_ms": (refused_at - committed) * 1000,
        "cascade_complete_ms": (complete_at - committed) * 1000,
        "items_affected": steps,
    }


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(values), "max": max(values), "min": min(values)}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as exits, tempfile.TemporaryDirectory(prefix="yui-bench-cascade-") as tmp:
        found = infrastructure.start(exits, "master", Path(tmp))
        if found.uses_local_rabbitmq:
            infrastructure.rabbitmqctl("delete_vhost", found.amqp_vhost)  # nothing left from an earlier run
            infrastructure.ensure_vhost(found.amqp_vhost)
        infrastructure.export(found)
        stack = Stack()
        await stack.start()
        try:
            runs = [
                await one_withdrawal(stack, args.posts, args.attachments, args.poll_ms / 1000)
                for _ in range(args.subjects)
            ]
        finally:
            # A broker busy elsewhere (another suite deleting its vhost) can stall a connection's close; the
            # figures are in by now, so stop waiting rather than hang the run.
            try:
                await asyncio.wait_for(stack.close(), 60)
            except TimeoutError:
                print("cascade: the stack did not stop within 60 s; leaving it", file=sys.stderr)
    return {
        "benchmark": "cascade",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "arguments": {
            "subjects": args.subjects,
            "posts": args.posts,
            "attachments": args.attachments,
            "poll_ms": args.poll_ms,
        },
        "runs": runs,
        "timeline_refuses_ms": summary([r["timeline_refuses_ms"] for r in runs]),
        "cascade_complete_ms": summary([r["cascade_complete_ms"] for r in runs]),
    }


def table(result: dict[str, Any]) -> str:
    posts = result["arguments"]["posts"]
    lines = [
        f"withdrawal → … with {posts:,} posts and {result['arguments']['attachments']} attachments per subject, "
        f"{len(result['runs'])} subjects "
        f"(poll every {result['arguments']['poll_ms']} ms)",
        f"{'':34}{'p50 ms':>10}{'max ms':>10}",
    ]
    for key, label in (
        ("timeline_refuses_ms", "timeline refuses (GET → 410)"),
        ("cascade_complete_ms", "cascade complete in consent"),
    ):
        lines.append(f"{label:34}{result[key]['p50']:10.1f}{result[key]['max']:10.1f}")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subjects", type=int, default=5, help="withdrawals to time (default 5)")
    parser.add_argument("--posts", type=int, default=10_000, help="posts per subject (default 10000)")
    parser.add_argument("--attachments", type=int, default=200, help="attachments per subject (default 200)")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="polling interval (default 5 ms)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # A run of its own: never the databases or vhost of a test run going on beside it.
    os.environ["YUI_TEST_RUN"] = "bench_cascade"
    os.environ.setdefault("YUI_LOG_LEVEL", "WARNING")  # not a log line per poll
    result = asyncio.run(measure(args))
    path = write_results(result, "cascade")
    print(table(result))
    print(f"\nraw numbers: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
