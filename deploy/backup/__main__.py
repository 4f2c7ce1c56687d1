"""Command line: `python -m deploy.backup backup [--to DIR]` and `python -m deploy.backup restore DIR`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploy.backup.backup import make_backup
from deploy.backup.restore import RestoreRefused, restore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.backup", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    take = commands.add_parser("backup", help="write a dated backup set under YUI_BACKUP_DIR (.run/backups)")
    take.add_argument("--to", type=Path, help="this directory instead of <YUI_BACKUP_DIR>/<UTC stamp>")
    back = commands.add_parser("restore", help="rebuild an empty deployment from a backup set")
    back.add_argument("source", type=Path)
    back.add_argument(
        "--replace", action="store_true", help="drop databases and overwrite buckets that hold data"
    )
    args = parser.parse_args(argv)
    if args.command == "backup":
        print(f"backup written to {make_backup(to=args.to)}")
        return 0
    try:
        counts = restore(args.source, replace=args.replace)
    except RestoreRefused as refused:
        print(f"restore refused: {refused}", file=sys.stderr)
        return 2
    print(
        f"restored {counts['databases']} databases, {counts['objects']} objects and {counts['queues']} queues "
        f"from {args.source}; now run the migrate jobs (idempotent) and start the services"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
