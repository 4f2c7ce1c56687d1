"""Command line: python -m portal migrate|api|worker|audit-verify."""

from pathlib import Path

from yui_common.cli import run_cli

from portal.settings import Settings
from portal.worker import build_worker

if __name__ == "__main__":
    raise SystemExit(
        run_cli(
            service="portal",
            service_root=Path(__file__).resolve().parents[2],
            settings_factory=Settings,
            app_path="portal.main:create_app",
            worker_factory=build_worker,
            default_port=8104,
        )
    )
