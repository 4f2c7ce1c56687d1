"""Command line: python -m consent migrate|api|worker|audit-verify|seed|republish-subjects."""

from pathlib import Path

from yui_common.cli import run_cli

from consent.seed import seed
from consent.settings import Settings
from consent.subjects.commands import republish_subjects_command
from consent.worker import build_worker

if __name__ == "__main__":
    raise SystemExit(
        run_cli(
            service="consent",
            service_root=Path(__file__).resolve().parents[2],
            settings_factory=Settings,
            app_path="consent.main:create_app",
            worker_factory=build_worker,
            default_port=8102,
            extra_commands={"seed": seed, "republish-subjects": republish_subjects_command},
        )
    )
