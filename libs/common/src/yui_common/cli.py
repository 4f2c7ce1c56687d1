"""The command line every service shares: migrate, api, worker, audit-verify (and service extras)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from yui_common.settings import CommonSettings

ExtraCommand = Callable[[CommonSettings], Coroutine[Any, Any, int]]


def run_cli(
    *,
    service: str,
    service_root: Path,
    settings_factory: Callable[[], CommonSettings],
    app_path: str,
    worker_factory: Callable[[CommonSettings], object],
    default_port: int,
    extra_commands: dict[str, ExtraCommand] | None = None,
    argv: list[str] | None = None,
) -> int:
    extra_commands = extra_commands or {}
    parser = argparse.ArgumentParser(prog=f"python -m {service}", description=f"Yui {service} service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the database if missing and apply migrations")
    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=default_port)
    api.add_argument("--workers", type=int, default=1)
    sub.add_parser("worker", help="run consumers and the outbox relay")
    sub.add_parser(
        "audit-verify", help="verify the audit log against its seals and the seals' signed heads in S3"
    )
    for name in extra_commands:
        sub.add_parser(name)
    args = parser.parse_args(argv)
    settings = settings_factory()

    if args.command == "migrate":
        from yui_common.migrations import migrate

        migrate(service_root, settings)
        print(f"{service}: database {settings.database_name} is at the latest migration")
        # The broker is migrated too: queues exist before any service publishes, so nothing is unroutable.
        from yui_common.worker import Worker, declare_topology

        worker = worker_factory(settings)
        assert isinstance(worker, Worker)
        queues = asyncio.run(declare_topology(settings, worker.subscriptions))
        print(f"{service}: exchange {settings.exchange} and queues {', '.join(queues) or '(none)'} declared")
        return 0
    if args.command == "api":
        import uvicorn

        uvicorn.run(
            app_path,
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            access_log=False,
            log_config=None,
        )
        return 0
    if args.command == "worker":
        from yui_common.worker import Worker, serve_worker

        worker = worker_factory(settings)
        assert isinstance(worker, Worker)
        from yui_common.runtime import run

        run(serve_worker(worker))
        return 0
    if args.command == "audit-verify":
        return asyncio.run(_audit_verify(settings))
    return asyncio.run(extra_commands[args.command](settings))


async def _audit_verify(settings: CommonSettings) -> int:
    """Entries against seals, seals against the exported signed heads; exit 1 on any break."""
    from yui_common.audit_seal import SealHeads, audit_key, verify_log
    from yui_common.db import create_engine, create_sessionmaker

    key = audit_key(settings)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            verification = await verify_log(
                session, heads=SealHeads(settings), public_key=key.public if key else None
            )
    finally:
        await engine.dispose()
    name = settings.service_name
    if key is None:
        print(
            f"{name}: no audit key configured (audit_key_file): signatures were not checked", file=sys.stderr
        )
    if verification.unsealed_entries:
        oldest, newest = verification.unsealed_age_s("oldest"), verification.unsealed_age_s("newest")
        print(
            f"{name}: {verification.unsealed_entries} entries not sealed yet; the newest is {newest:.1f} s old, "
            f"the oldest {oldest:.1f} s"
        )
    else:
        print(f"{name}: every entry is sealed")
    if verification.seals_awaiting_export:
        print(f"{name}: {verification.seals_awaiting_export} seals not exported yet")
    heads = (
        f"signed heads match through seal {verification.heads_checked_through}"
        if verification.heads_checked_through
        else "no exported signed head to compare"
    )
    summary = f"{verification.entries_checked} entries, {verification.seals_checked} seals, {heads}"
    if verification.entries_erased:  # of ended networks (issue 11): checked by their kept hashes
        summary += f", {verification.entries_erased} erased with ended networks"
    if verification.breaks:
        for item in verification.breaks:
            print(f"audit entry {item.seq}: {item.problem}", file=sys.stderr)
        print(f"{name}: audit log BROKEN ({len(verification.breaks)} problems; {summary})")
        return 1
    print(f"{name}: audit log intact ({summary})")
    return 0
