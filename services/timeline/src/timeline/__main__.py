"""Command line: python -m timeline migrate|api|worker|audit-verify|seed."""

from pathlib import Path

from yui_common.cli import run_cli

from timeline.seed import seed
from timeline.settings import Settings
from timeline.worker import build_worker

if __name__ == "__main__":
    raise SystemExit(
        run_cli(
            service="timeline",
            service_root=Path(__file__).resolve().parents[2],
            settings_factory=Settings,
            app_path="timeline.main:create_app",
            worker_factory=build_worker,
            extra_commands={"seed": seed},
            default_port=8103,
        )
    )
