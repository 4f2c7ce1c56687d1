"""Command line: python -m identity migrate|api|worker|audit-verify|seed|republish-people."""

import sys
from pathlib import Path

from yui_common.cli import run_cli

from identity.people.commands import republish_people_command
from identity.seed import seed
from identity.settings import Settings
from identity.worker import build_worker

if __name__ == "__main__":
    if sys.argv[1:2] in (["network"], ["contractor"]):
        # The contractor's commands take their own options, which run_cli's plain sub-commands cannot.
        from identity.platform.cli import main

        raise SystemExit(main(Settings(), sys.argv[1:]))
    raise SystemExit(
        run_cli(
            service="identity",
            service_root=Path(__file__).resolve().parents[2],
            settings_factory=Settings,
            app_path="identity.main:create_app",
            worker_factory=build_worker,
            default_port=8101,
            extra_commands={"seed": seed, "republish-people": republish_people_command},
        )
    )
