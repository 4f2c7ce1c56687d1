"""`python -m identity network export|end|progress <slug>`: the end of a network from the command line (ten4).

- ``export <slug> [--wait] [--output FILE.zip]``: ask every service for its part of the suspended network's data;
  with ``--wait``, wait until every part is in; with ``--output``, also write the whole export as one zip.
- ``end <slug> [--wait]``: after a complete export, delete every row and object of the network in every service
  (run it again while the network is ending to ask the services that have not finished once more).
- ``progress <slug>``: the network's exports and end, service by service.

Refusals print the problem (RFC 9457 JSON) on stderr and exit 1; a wait that runs out exits 3.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from yui_common.db import create_engine, create_sessionmaker
from yui_common.problems import Problem
from yui_common.settings import CommonSettings

from identity.network_end import service
from identity.network_end.archive import write_archive
from identity.network_end.schemas import OperationRead
from identity.platform.cli import _problem

COMMANDS = ("export", "end", "progress")
SERVICE_LABELS = {
    "identity": "利用者・事業所 (identity)",
    "consent": "利用者（患者）・同意 (consent)",
    "timeline": "投稿・添付 (timeline)",
    "notify": "通知 (notify)",
    "portal": "お知らせ・規約 (portal)",
}
KIND_LABELS = {"export": "書き出し (export)", "end": "削除 (end)"}


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="python -m identity network", description="Ending a network.")
    cli.add_argument("--actor", default="contractor-cli", help="who acts (recorded in the audit log)")
    cli.add_argument("--json", action="store_true", help="print the result as JSON")
    sub = cli.add_subparsers(dest="command", required=True)
    export = sub.add_parser(
        "export", help="export a suspended network's data (every service writes its part)"
    )
    export.add_argument("slug")
    export.add_argument("--wait", action="store_true", help="wait until every service has written its part")
    export.add_argument("--output", help="also write the whole export to this zip file (implies --wait)")
    export.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait at most")
    end = sub.add_parser("end", help="after a complete export: delete the network's data in every service")
    end.add_argument("slug")
    end.add_argument("--wait", action="store_true", help="wait until every service has deleted its part")
    end.add_argument("--timeout", type=float, default=3600.0)
    progress = sub.add_parser("progress", help="the network's exports and end, service by service")
    progress.add_argument("slug")
    return cli


def describe(operation: OperationRead) -> list[str]:
    state = "完了 (complete)" if operation.completed_at else "処理中 (in progress)"
    lines = [
        f"{KIND_LABELS.get(operation.kind, operation.kind)}  {operation.requested_at.isoformat()}  {state}"
    ]
    if operation.prefix:
        lines.append(f"  s3://{operation.bucket}/{operation.prefix}")
    for step in operation.steps:
        done = f"完了 {step.completed_at.isoformat()}" if step.completed_at else "待機中 (pending)"
        lines.append(f"  {SERVICE_LABELS.get(step.service, step.service)}: {done}")
    return lines


async def _wait(sessionmaker: Any, operation_id: UUID, within_s: float) -> OperationRead | None:
    deadline = time.monotonic() + within_s
    while True:
        async with sessionmaker() as session:
            found = await service.operation_read(session, operation_id)
        if found.completed_at is not None:
            return found
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.5)


async def run(settings: CommonSettings, argv: list[str]) -> int:
    args = parser().parse_args(argv)
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        try:
            if args.command == "progress":
                async with sessionmaker() as session:
                    state = await service.network_end_state(session, args.slug)
                if args.json:
                    print(json.dumps(state.model_dump(mode="json"), ensure_ascii=False, indent=2))
                else:
                    print(f"{state.name}  [{state.slug}]  {state.status}")
                    for operation in state.operations:
                        print("\n".join(describe(operation)))
                return 0
            async with sessionmaker() as session, session.begin():
                if args.command == "export":
                    operation = await service.request_export(
                        session, settings=settings, actor=args.actor, slug=args.slug
                    )
                else:
                    operation = await service.end_network(session, actor=args.actor, slug=args.slug)
        except Problem as problem:
            return _problem(problem)
        if args.wait or getattr(args, "output", None):
            finished = await _wait(sessionmaker, operation.id, args.timeout)
            if finished is None:
                print(
                    "時間内に終わりませんでした (not finished in time); `progress` shows who is pending",
                    file=sys.stderr,
                )
                return 3
            operation = finished
        if getattr(args, "output", None):
            async with sessionmaker() as session:
                name = (await service.network_end_state(session, args.slug)).name
            try:
                with open(args.output, "wb") as output:  # noqa: ASYNC230 - a command, nothing else waits on its loop
                    await write_archive(settings, operation, name, output)
            except Problem as problem:
                Path(args.output).unlink(missing_ok=True)  # noqa: ASYNC240 - a command, as above
                return _problem(problem)
        if args.json:
            print(json.dumps(operation.model_dump(mode="json"), ensure_ascii=False, indent=2))
        else:
            print("\n".join(describe(operation)))
            if getattr(args, "output", None):
                print(f"  → {args.output}")
        return 0
    finally:
        await engine.dispose()


def main(settings: CommonSettings, argv: list[str]) -> int:
    """argv without the leading ``network``."""
    return asyncio.run(run(settings, argv))
