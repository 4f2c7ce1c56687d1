"""`python -m portal maintenance on|off --reason ...`: the contractor's emergency switch, no web UI."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime

from yui_common.db import create_engine, create_sessionmaker
from yui_common.settings import CommonSettings

from portal.models import ALL_NETWORKS
from portal.operations import maintenance


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m portal maintenance",
        description="Switch maintenance on or off (recorded, audited, announced, published as an event).",
    )
    cli.add_argument("switch", choices=("on", "off", "status"))
    cli.add_argument("--reason", default="", help="why (required for on and off); shown to users")
    cli.add_argument(
        "--tenant",
        default=ALL_NETWORKS,
        help='one network\'s slug, or "*" (the default) for the whole deployment',
    )
    cli.add_argument("--expected-end", type=datetime.fromisoformat, default=None, help="ISO 8601 with offset")
    cli.add_argument("--actor", default="contractor-cli", help="who switches (recorded in the audit log)")
    return cli


async def run(settings: CommonSettings, argv: list[str]) -> int:
    args = parser().parse_args(argv)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            if args.switch == "status":
                state = await maintenance.state_for(
                    session, None if args.tenant == ALL_NETWORKS else args.tenant
                )
                print(f"maintenance {'ON' if state.active else 'off'} {state.scope} {state.reason}".rstrip())
                return 0
            if not args.reason.strip():
                print("give --reason: users see it in the report notice")
                return 2
            async with session.begin():
                await maintenance.switch(
                    session,
                    scope=args.tenant,
                    active=args.switch == "on",
                    reason=args.reason,
                    actor_id=args.actor,
                    actor_role=maintenance.CONTRACTOR,
                    # A deployment-wide stop is reported on the default network's portal.
                    event_tenant=settings.default_tenant if args.tenant == ALL_NETWORKS else args.tenant,
                    expected_end=args.expected_end,
                )
    finally:
        await engine.dispose()
    print(f"maintenance {args.switch} for {args.tenant}: recorded, reported and announced")
    return 0


def main(settings: CommonSettings, argv: list[str]) -> int:
    return asyncio.run(run(settings, argv))
