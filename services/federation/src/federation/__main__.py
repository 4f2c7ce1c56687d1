"""Command line: python -m federation migrate|api|worker|audit-verify|rotate-key|seed."""

from pathlib import Path

from yui_common.cli import run_cli

from federation.agreements.demo_seed import seed
from federation.keys.cli import rotate_key_command
from federation.settings import Settings
from federation.worker import build_worker

if __name__ == "__main__":
    raise SystemExit(
        run_cli(
            service="federation",
            service_root=Path(__file__).resolve().parents[2],
            settings_factory=Settings,
            app_path="federation.main:create_app",
            worker_factory=build_worker,
            default_port=8106,
            extra_commands={"rotate-key": rotate_key_command, "seed": seed},
        )
    )
