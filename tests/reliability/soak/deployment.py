"""The five services as real processes (an API and a worker each) on the soak's own servers.

Configured as `make run` configures them (deploy/local/run.py: ``python -m <svc> migrate|seed|api|worker`` and
the YUI_* environment), but on free ports, against the soak's PostgreSQL cluster and RabbitMQ node, with a
database prefix and buckets of their own. A worker is a process of its own, so SIGKILL is a real crash.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.reliability.soak.servers import PrivatePostgres, PrivateRabbitMQ, free_port

REPO = Path(__file__).resolve().parents[3]
SERVICES = ("identity", "consent", "timeline", "portal", "notify", "federation")
# The demo network `make run` seeds (identity's part: the soak adds its own people to it, and its own subjects).
SEEDED = ("identity",)
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0


class DeploymentError(RuntimeError):
    """A service process did not migrate, start or answer; the message names it and quotes its log."""


@dataclass
class S3Store:
    endpoint: str
    access_key: str
    secret_key: str


@dataclass
class Process:
    role: str  # "<service>-api" or "<service>-worker"
    command: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None
    starts: int = 0

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class SoakDeployment:
    postgres: PrivatePostgres
    rabbitmq: PrivateRabbitMQ
    s3: S3Store
    workdir: Path
    database_prefix: str = "yui_soak_"
    api_ports: dict[str, int] = field(default_factory=lambda: {svc: free_port() for svc in SERVICES})
    gateway_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    processes: dict[str, Process] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "YUI_POSTGRES_URL": self.postgres.url,
            "YUI_DATABASE_PREFIX": self.database_prefix,
            "YUI_AMQP_URL": self.rabbitmq.amqp_url,
            "YUI_S3_ENDPOINT": self.s3.endpoint,
            "YUI_S3_ACCESS_KEY": self.s3.access_key,
            "YUI_S3_SECRET_KEY": self.s3.secret_key,
            "YUI_JWKS_URL": f"{self.url('identity')}/.well-known/jwks.json",
            "YUI_GATEWAY_SECRET": self.gateway_secret,
            "YUI_PORTAL_STAFF_SESSION_KEY": secrets.token_urlsafe(32),
            "YUI_PUBLIC_URL": self.url("portal"),
            "YUI_LOG_LEVEL": "WARNING",
            # Small pools: twelve processes share the cluster (300 connections) with the soak's own checks.
            "YUI_DATABASE_POOL_SIZE": "4",
            "YUI_DATABASE_MAX_OVERFLOW": "8",
            # Tokens outlive the long form's five minutes and its setup.
            "YUI_IDENTITY_ACCESS_TOKEN_TTL_S": "3600",
            # No e-mail reaches anybody's mail catcher: nothing listens on this port.
            "YUI_NOTIFY_SMTP_PORT": str(free_port()),
        }
        # Worker metrics on ports the kernel picks, never `make run`'s 91xx; the shared default alone is not
        # enough where a developer's shell sets the per-service ones.
        env["YUI_WORKER_METRICS_PORT"] = "0"
        for service in SERVICES:
            env[f"YUI_{service.upper()}_WORKER_METRICS_PORT"] = "0"
            # Each service's key that signs its audit seal heads, as `make run` keeps one in .run/.
            env[f"YUI_{service.upper()}_AUDIT_KEY_FILE"] = str(self.audit_key(service))
        # Retries and delivery limits stay at their production defaults on purpose: the soak asks whether
        # those survive a database restart, not whether a test-tuned configuration does.
        for name in ("YUI_RETRY_DELAYS_MS", "YUI_OUTBOX_POLL_INTERVAL_S", "YUI_DELIVERY_LIMIT"):
            env.pop(name, None)
        return env

    def audit_key(self, service: str) -> Path:
        """An Ed25519 private key (PEM, 0600) for the service's audit seals, made once per deployment."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        path = self.workdir / "audit-keys" / f"{service}.pem"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path.touch(mode=0o600)
            path.write_bytes(pem)
        return path

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.api_ports[service]}"

    def database_url(self, service: str) -> str:
        return f"{self.postgres.url}/{self.database_prefix}{service}"

    def bucket(self, service: str) -> str:
        return f"{self.database_prefix.replace('_', '-')}{service}"

    # ------------------------------------------------------------------ one-off steps

    def run_step(self, *args: str, timeout: float = 300.0) -> str:
        """``python -m <args>`` to completion with the deployment's environment; fails with its output."""
        result = subprocess.run(
            [sys.executable, "-m", *args],
            cwd=REPO,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise DeploymentError(
                f"`python -m {' '.join(args)}` failed ({result.returncode}): "
                f"{(result.stdout + result.stderr).strip()[-3000:]}"
            )
        return result.stdout

    def prepare(self) -> None:
        """Migrate every service (databases and broker topology), then seed as `make run` does."""
        # Each service has its own database and queues, so they migrate side by side (three at a time: the
        # machine has few cores and each step is a Python process importing the whole service).
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda service: self.run_step(service, "migrate"), SERVICES))
            list(pool.map(lambda service: self.run_step(service, "seed"), SEEDED))

    def audit_verify(self, service: str) -> tuple[int, str]:
        result = subprocess.run(
            [sys.executable, "-m", service, "audit-verify"],
            cwd=REPO,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return result.returncode, (result.stdout + result.stderr).strip()

    # ------------------------------------------------------------------ long-running processes

    def start(self) -> None:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        for service in SERVICES:
            api = [
                sys.executable,
                "-m",
                service,
                "api",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.api_ports[service]),
            ]
            for role, command in (
                (f"{service}-api", api),
                (f"{service}-worker", [sys.executable, "-m", service, "worker"]),
            ):
                process = Process(role, command, logs / f"{role}.log")
                self.processes[role] = process
                self._spawn(process, env)
        self.wait_ready()

    def _spawn(self, process: Process, env: dict[str, str] | None = None) -> None:
        if process.log is None:
            process.log = process.log_path.open("ab")
        process.log.write(f"\n--- start {process.starts + 1} at {time.strftime('%H:%M:%S')} ---\n".encode())
        process.log.flush()
        process.popen = subprocess.Popen(
            process.command,
            cwd=REPO,
            env=env or self.environment(),
            stdout=process.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a signal meant for the soak (Ctrl-C) reaches it, not every service
        )
        process.starts += 1

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(SERVICES)
        while waiting and time.monotonic() < deadline:
            for role, process in self.processes.items():
                if not process.running():
                    raise DeploymentError(f"{role} exited ({self._exit(process)}): {self.log_tail(role)}")
            waiting = [service for service in waiting if not self._ready(service)]
            if waiting:
                time.sleep(0.5)
        if waiting:
            raise DeploymentError(
                f"not ready after {timeout:.0f} s: {', '.join(waiting)}; "
                + "; ".join(f"{s}-api: {self.log_tail(f'{s}-api')}" for s in waiting)
            )

    def _ready(self, service: str) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url(service)}/readyz", timeout=3) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def kill(self, role: str) -> int:
        """SIGKILL: no shutdown handler runs, unacknowledged messages go back to the broker."""
        process = self.processes[role]
        assert process.popen is not None
        pid = process.popen.pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        process.popen.wait(timeout=30)
        return pid

    def restart(self, role: str) -> None:
        """Start a stopped or killed process again, as a supervisor (honcho, systemd, Kubernetes) would."""
        process = self.processes[role]
        if process.running():
            raise DeploymentError(f"{role} is still running")
        self._spawn(process)

    def exited(self) -> dict[str, str]:
        """Processes that ended although nobody stopped them: role → exit status."""
        return {role: self._exit(p) for role, p in self.processes.items() if not p.running()}

    def _exit(self, process: Process) -> str:
        code = process.popen.returncode if process.popen else None
        return f"exit status {code}"

    def log_tail(self, role: str, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            text = self.processes[role].log_path.read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return "(no log)"

    def stop(self) -> None:
        for process in self.processes.values():
            if process.running() and process.popen is not None:
                with contextlib.suppress(ProcessLookupError):
                    process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes.values():
            if process.popen is None:
                continue
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=30)
            if process.log is not None:
                process.log.close()
                process.log = None
