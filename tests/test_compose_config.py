"""docker-compose.yml is valid, needs its secrets, and runs every service as migrate + api + worker."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("identity", "consent", "timeline", "portal", "notify", "federation")
SECRETS = {
    "POSTGRES_PASSWORD": "test-postgres-password",
    "RABBITMQ_DEFAULT_PASS": "test-rabbitmq-password",
    "MINIO_ROOT_PASSWORD": "test-minio-root-password",
    "YUI_S3_SECRET_KEY": "test-minio-app-secret",
    "YUI_IDENTITY_CA_KEY_PASSPHRASE": "test-ca-passphrase",
    "YUI_PORTAL_STAFF_SESSION_KEY": "test-portal-session-key",
    "YUI_GATEWAY_SECRET": "test-gateway-secret",
}


def compose_command() -> list[str]:
    """`docker compose` (v2 plugin) when it works, else Debian's `docker-compose`; fail without either."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.fail(
        "neither `docker compose` nor `docker-compose` is installed (.ci/run installs docker-compose)"
    )


def run_compose(*args: str, env_overrides: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("COMPOSE_")}
    env.update(env_overrides or {})
    return subprocess.run(
        [
            *compose_command(),
            "--project-directory",
            str(REPO_ROOT),
            "-f",
            str(REPO_ROOT / "docker-compose.yml"),
            *args,
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The compose file after interpolation, anchors and merges, as compose itself resolves it."""
    result = run_compose("config", env_overrides=SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_f0_compose_file_is_valid() -> None:
    result = run_compose("config", "-q", env_overrides=SECRETS)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_f0_compose_refuses_to_run_without_a_required_secret(secret: str) -> None:
    others = {name: value for name, value in SECRETS.items() if name != secret}
    result = run_compose("config", "-q", env_overrides=others)
    assert result.returncode != 0
    assert secret in result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_f0_every_service_runs_migrate_then_api_and_worker(resolved: dict[str, Any], service: str) -> None:
    services = resolved["services"]
    migrate, api, worker = (services.get(f"{service}-{role}") for role in ("migrate", "api", "worker"))
    assert migrate is not None and api is not None and worker is not None, f"{service}: missing an entry"
    assert migrate["command"] == [service, "migrate"]
    assert api["command"] == [service, "api", "--host", "0.0.0.0", "--port", "8000"]
    assert worker["command"] == [service, "worker"]
    for process in (api, worker):
        assert process["depends_on"][f"{service}-migrate"]["condition"] == "service_completed_successfully"
        assert process["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert process["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert process["environment"]["YUI_JWKS_URL"] == "http://identity-api:8000/.well-known/jwks.json"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    # Each process reads its service's audit key from the volume the one-shot audit-keys service fills;
    # without it the worker does not seal the audit log.
    for process in (api, worker):
        key_file = process["environment"][f"YUI_{service.upper()}_AUDIT_KEY_FILE"]
        assert key_file == f"/var/run/yui/audit-keys/{service}.pem"
        assert any(str(v).startswith("audit-keys:/var/run/yui/audit-keys") for v in process["volumes"]), (
            process["volumes"]
        )
        assert process["depends_on"]["audit-keys"]["condition"] == "service_completed_successfully"
    maker = services["audit-keys"]
    assert service in " ".join(maker["command"]) and "ensure_audit_key" in " ".join(maker["command"])


def test_f0_gateway_waits_for_every_api_and_routes_to_them(resolved: dict[str, Any]) -> None:
    gateway = resolved["services"]["gateway"]
    for service in SERVICES:
        assert gateway["depends_on"][f"{service}-api"]["condition"] == "service_healthy"
        assert gateway["environment"][f"YUI_GATEWAY_{service.upper()}_UPSTREAM"] == f"{service}-api:8000"
    template = REPO_ROOT / "deploy" / "gateway" / "nginx.conf.template"
    assert any(
        str(template) in str(volume) or "nginx.conf.template" in str(volume) for volume in gateway["volumes"]
    )
