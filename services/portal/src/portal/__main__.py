"""Command line: python -m portal migrate|api|worker|audit-verify|maintenance|seed."""

import sys
from pathlib import Path

from yui_common.cli import run_cli

from portal.seed import seed
from portal.settings import Settings
from portal.worker import build_worker

if __name__ == "__main__":
    if sys.argv[1:2] == ["maintenance"]:
        # The contractor's emergency switch takes its own options, which run_cli's plain sub-commands cannot.
        from portal.operations.cli import main

        raise SystemExit(main(Settings(), sys.argv[2:]))
    raise SystemExit(
        run_cli(
            service="portal",
            service_root=Path(__file__).resolve().parents[2],
            settings_factory=Settings,
            app_path="portal.main:create_app",
            worker_factory=build_worker,
            extra_commands={"seed": seed},
            default_port=8104,
        )
    )
