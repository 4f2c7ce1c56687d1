"""Two separate Yui deployments on this machine, each as real processes behind its own nginx gateway.

Each deployment has its own database prefix (``YUI_DATABASE_PREFIX``), its own RabbitMQ virtual host, its own
SeaweedFS, its own CA (identity's, created in its own database), its own ports (``YUI_PORT_OFFSET``: the API
ports, the gateway's HTTPS and peer ports, S3) and its own state directory (``YUI_RUN_DIR``): exactly what the
README's "Two deployments on one machine" sets for two ``make run``. They are started with ``make run``'s own
helpers (deploy/local/run.py: addresses, secrets, audit keys, S3, migrations, seed, gateway rendering, the
certificates, the process command lines), not with honcho, so that a test can kill and restart one process.

Separate ports on 127.0.0.1, not network namespaces: everything here (PostgreSQL, RabbitMQ, the ports each
deployment listens on) is one host's loopback, and what sets the deployments apart is that they share no
database, vhost, bucket, key, CA or secret. The federation between them goes only through the gateways: each
deployment's federation base URL is its gateway's peer port, which admits only client certificates from a CA in
the port's bundle (deploy/gateway/README.md, "Peer deployments"); each side's federation presents a client
certificate from its own CA, and each gateway's peer port has a server certificate from its own CA, which is what
the other side pins.

Only the processes federation needs run from the start: identity's API (operators sign in; the JWKS federation
verifies their tokens with; the CA) and federation's API and worker. Referrals (fed2, fed3) need more, started on
demand by ``start_care`` (the ``care`` fixture): consent (subjects, consent, care teams, the withdrawal cascade),
timeline (the posts a peer reads and answers; its S3 is the deployment's SeaweedFS), notify (a step of the cascade)
and identity's worker (its outbox carries the people and networks the others project). Their migrations run then
too and declare their queues before identity's worker publishes anything. Portal is never started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx

from deploy.gateway.render import RenderedGateway, find_nginx, render
from deploy.local import run
from deploy.local.seaweed import SeaweedFS
from tests.support import infrastructure

REPO = Path(__file__).resolve().parents[2]
STARTED = ("identity", "federation")
# What referrals need besides (start_care), and identity's worker.
CARE = ("consent", "timeline", "notify")
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
AMQP = "amqp://guest:guest@127.0.0.1:5672"
READY_TIMEOUT_S = 120.0
# Settings of both deployments that keep the tests short: retries come back within two seconds and the worker
# sweeps often (the defaults are for a network of real peers: up to five minutes between retries).
QUICK = {
    "YUI_FEDERATION_DELIVERY_INTERVAL_S": "0.2",
    "YUI_FEDERATION_DELIVERY_BACKOFF_INITIAL_S": "0.3",
    "YUI_FEDERATION_DELIVERY_BACKOFF_MAX_S": "2",
    "YUI_FEDERATION_PEER_CA_PUBLISH_INTERVAL_S": "0.5",
    "YUI_FEDERATION_PEER_KEYS_REFETCH_INTERVAL_S": "1",
    "YUI_DATABASE_POOL_SIZE": "3",
    "YUI_DATABASE_MAX_OVERFLOW": "6",
    "YUI_OUTBOX_POLL_INTERVAL_S": "0.5",
    "YUI_LOG_LEVEL": "WARNING",
}


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_offset(taken: set[int]) -> int:
    """A YUI_PORT_OFFSET whose every port (8101-8106, 9101-9106, 8443, 8444, 8333) is free here."""
    bases = [port for pair in run.SERVICES.values() for port in pair] + [
        8443,
        8444,
        run.S3_PORT,
        run.MAIL_PORT,
    ]
    for _ in range(200):
        offset = random.randrange(20000, 50000, 100)
        if offset in taken:
            continue
        if all(_port_free(base + offset) for base in bases):
            return offset
    raise RuntimeError("no free block of ports for a second deployment")


@dataclass
class Deployment:
    """One deployment: its settings (the environment its processes get), state directory, gateway and processes."""

    name: str
    env: dict[str, str]
    directory: Path
    offset: int
    gateway: RenderedGateway | None = None
    seaweed: SeaweedFS | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ where things are
    @property
    def prefix(self) -> str:
        return self.env["YUI_DATABASE_PREFIX"]

    @property
    def vhost(self) -> str:
        return self.env["YUI_AMQP_URL"].rsplit("/", 1)[1]

    def api_url(self, service: str) -> str:
        return f"http://127.0.0.1:{run.service_ports(self.offset)[service][0]}"

    @property
    def federation_base_url(self) -> str:
        """Where peers reach this deployment: its gateway's peer port."""
        return self.env["YUI_FEDERATION_BASE_URL"]

    @property
    def public_url(self) -> str:
        return self.env["YUI_PUBLIC_URL"]

    def source(self, tenant: str) -> str:
        return f"{self.federation_base_url}/networks/{tenant}"

    @property
    def ca_pem(self) -> str:
        """This deployment's CA (identity's), which peers pin."""
        return Path(self.env["YUI_FEDERATION_CA_CERT_FILE"]).read_text()

    @property
    def client_certificate(self) -> tuple[str, str]:
        return self.env["YUI_FEDERATION_CLIENT_CERT_FILE"], self.env["YUI_FEDERATION_CLIENT_KEY_FILE"]

    def database(self, service: str) -> str:
        return f"{POSTGRES}/{self.prefix}{service}"

    async def connect(self, service: str = "federation") -> asyncpg.Connection:
        return await asyncpg.connect(self.database(service))

    def log(self, process: str) -> Path:
        return self.directory / "logs" / f"{process}.log"

    # ------------------------------------------------------------------ processes
    def start(self, process: str, **extra_env: str) -> None:
        """Start one process (``federation-api``, ``federation-worker``, ``identity-api``, ``gateway``)."""
        self.log(process).parent.mkdir(parents=True, exist_ok=True)
        out = self.log(process).open("ab")
        try:
            self.processes[process] = subprocess.Popen(
                self.commands[process],
                cwd=REPO,
                env={**self.env, **extra_env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill reaches it alone
            )
        finally:
            out.close()

    def kill(self, process: str, sig: int = signal.SIGKILL) -> None:
        """Stop one process the hard way (SIGKILL: no goodbye, as a crashed host)."""
        found = self.processes.pop(process, None)
        if found is None or found.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(found.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            found.wait(timeout=20)

    def exit_code(self, process: str) -> int | None:
        found = self.processes.get(process)
        return None if found is None else found.poll()

    def stop_all(self) -> None:
        for process in list(self.processes):
            self.kill(process, signal.SIGTERM)

    async def wait_answering(self, process: str, timeout: float = READY_TIMEOUT_S) -> None:
        """Until an API answers /readyz (directly), or the gateway its health check on both ports."""
        service = process.removesuffix("-api")
        deadline = time.monotonic() + timeout
        assert self.gateway is not None
        url = (
            f"https://127.0.0.1:{self.gateway.port}/_gateway/healthz"
            if process == "gateway"
            else f"{self.api_url(service)}/readyz"
        )
        async with httpx.AsyncClient(verify=False, timeout=3) as client:
            while time.monotonic() < deadline:
                code = self.exit_code(process)
                if code is not None:
                    raise AssertionError(f"{self.name}'s {process} exited ({code}): {self.log(process)}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise AssertionError(
            f"{self.name}'s {process} did not answer within {timeout} s: {self.log(process)}"
        )

    async def restart_federation(self, **extra_env: str) -> None:
        self.start("federation-api", **extra_env)
        self.start("federation-worker")
        await self.wait_answering("federation-api")

    def stop_federation(self) -> None:
        self.kill("federation-api")
        self.kill("federation-worker")

    # ------------------------------------------------------------------ people
    async def operator(self, tenant: str) -> dict[str, str]:
        """A real token of the network's demo operator, from this deployment's identity (password sign-in: the
        seeded demo networks allow it)."""
        from yui_common import demo

        async with httpx.AsyncClient(base_url=self.api_url("identity"), timeout=30) as client:
            response = await client.post(
                "/auth/token", json={"tenant": tenant, "login_id": "operator", "password": demo.PASSWORD}
            )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def federation_api(self) -> httpx.AsyncClient:
        """federation's internal API (the operators' agreement routes; the gateway does not route them)."""
        return httpx.AsyncClient(base_url=self.api_url("federation"), timeout=30)

    def peer_client(
        self, certificate: tuple[str, str] | None = None, ca_pem: str | None = None
    ) -> httpx.AsyncClient:
        """A client of this deployment's peer port, trusting only this deployment's CA, presenting
        ``certificate`` (cert file, key file) or none."""

        assert self.gateway is not None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=ca_pem or self.ca_pem)
        if certificate is not None:
            context.load_cert_chain(*certificate)
        return httpx.AsyncClient(base_url=self.federation_base_url, verify=context, timeout=30)

    def public_client(self) -> httpx.AsyncClient:
        assert self.gateway is not None
        return httpx.AsyncClient(
            base_url=self.public_url,
            verify=ssl.create_default_context(cafile=str(self.gateway.cert_file)),
            timeout=30,
        )


def clean_environment() -> dict[str, str]:
    """This process's environment without any YUI_ setting (a test session may have exported its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("YUI_")}


def new_deployment(name: str, directory: Path, offset: int, label: str) -> Deployment:
    """The deployment's settings: its own state directory, ports, database prefix and vhost."""
    prefix = f"yui_test_fed{label}_{name}_"
    vhost = f"yui-test-fed{label.replace('_', '-')}-{name}"
    env = {
        **clean_environment(),
        "PYTHONUNBUFFERED": "1",
        "YUI_RUN_DIR": str(directory),
        "YUI_PORT_OFFSET": str(offset),
        "YUI_DATABASE_PREFIX": prefix,
        "YUI_AMQP_URL": f"{AMQP}/{quote(vhost, safe='')}",
        **QUICK,
    }
    directory.mkdir(parents=True, exist_ok=True)
    run.local_addresses(env, offset)
    env["YUI_PUBLIC_URL"] = f"https://localhost:{env['YUI_GATEWAY_PORT']}"
    env["YUI_FEDERATION_INTRODUCED_CA_FILE"] = str(directory / "introduced-cas.pem")
    (directory / "introduced-cas.pem").write_text("")
    return Deployment(name, env, directory, offset)


def prepare(deployment: Deployment, nginx: str) -> None:
    """Everything but the processes, as `make run` does it: vhost, databases (fresh), secrets, audit keys, S3,
    migrations, seed, federation's certificates, the gateway's files."""
    env, directory, name = deployment.env, deployment.directory, deployment.name
    infrastructure.rabbitmqctl("delete_vhost", deployment.vhost)
    infrastructure.ensure_vhost(deployment.vhost)
    asyncio.run(drop_databases(deployment.prefix))
    run.gateway_secret(env, directory)
    run.audit_keys(env, directory)
    run.content_signing_key(env, directory)
    deployment.seaweed = run.ensure_s3(env, directory)
    for service in STARTED:
        run.run_step(f"{name}: migrating {service}", [sys.executable, "-m", service, "migrate"], env)
    run.run_step(f"{name}: seeding identity", [sys.executable, "-m", "identity", "seed"], env)
    gateway = render(directory / "gateway", env)
    run.wire_federation(env, gateway, directory)
    deployment.gateway = run.wire_client_certificates(env, nginx, directory)
    deployment.commands = run.process_commands(
        {s: p for s, p in run.service_ports(deployment.offset).items() if s in (*STARTED, *CARE)},
        deployment.gateway,
        nginx,
    )


def start_care(stacks: TwoStacks) -> None:
    """Consent, timeline and notify (API and worker) and identity's worker in both deployments, once: migrated
    (which declares their queues, so nothing identity's worker then publishes is dropped), started, answering."""
    pending = [d for d in (stacks.a, stacks.b) if "consent-api" not in d.processes]
    # One after another, as `make run` migrates: declaring many quorum queues at once from several processes left
    # some of them unresponsive on a busy broker.
    for deployment in pending:
        for service in CARE:
            command = [sys.executable, "-m", service, "migrate"]
            run.run_step(f"{deployment.name}: migrating {service}", command, deployment.env)
    for deployment in pending:
        for service in CARE:
            deployment.start(f"{service}-api")
            deployment.start(f"{service}-worker")
        deployment.start("identity-worker")

    async def answering() -> None:
        for deployment in pending:
            for service in CARE:
                await deployment.wait_answering(f"{service}-api")

    asyncio.run(answering())


async def drop_databases(prefix: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        for service in run.SERVICES:
            await connection.execute(f'DROP DATABASE IF EXISTS "{prefix}{service}" WITH (FORCE)')
    finally:
        await connection.close()


@dataclass
class TwoStacks:
    a: Deployment
    b: Deployment
    nginx: str


@contextlib.contextmanager
def two_deployments(root: Path, label: str = "") -> Iterator[TwoStacks]:
    """Deployments ``a`` and ``b``, prepared, introduced (each operator gave the other its CA out of band: only
    ``b`` lists ``a``'s, so ``a``'s proposal can reach it; ``a`` admits ``b`` once its proposal pins ``b``'s CA)
    and running; everything they made is removed on exit."""
    nginx = find_nginx()
    assert nginx, "nginx is not installed (apt-get install nginx); .ci/run installs it"
    label = label or os.environ.get("YUI_TEST_RUN", "") + f"{os.getpid()}"
    deployments: list[Deployment] = []
    try:
        offsets: set[int] = set()
        for name in ("a", "b"):
            offset = free_offset(offsets)
            offsets.add(offset)
            deployments.append(new_deployment(name, root / name, offset, label))
            prepare(deployments[-1], nginx)
        a, b = deployments
        Path(b.env["YUI_FEDERATION_INTRODUCED_CA_FILE"]).write_text(a.ca_pem)
        for deployment in deployments:
            for process in ("gateway", *(f"{s}-{r}" for s in STARTED for r in ("api", "worker"))):
                if process != "identity-worker":
                    deployment.start(process)
        for deployment in deployments:
            asyncio.run(_ready(deployment))
        yield TwoStacks(a, b, nginx)
    finally:
        for deployment in deployments:
            deployment.stop_all()
            if deployment.seaweed is not None:
                deployment.seaweed.stop()
            infrastructure.rabbitmqctl("delete_vhost", deployment.vhost)
            asyncio.run(drop_databases(deployment.prefix))


async def _ready(deployment: Deployment) -> None:
    for process in ("identity-api", "federation-api", "gateway"):
        await deployment.wait_answering(process)
    # The worker has written the peer port's bundle (our CA and the introduced ones) once nginx trusts ours.
    await wait_for(
        lambda: _bundle_holds(deployment),
        what=f"{deployment.name}'s peer port to trust its own CA",
    )


def _bundle_holds(deployment: Deployment, pem: str | None = None) -> bool:
    assert deployment.gateway is not None and deployment.gateway.peer_ca_file is not None
    wanted = (pem or deployment.ca_pem).strip()
    return wanted in deployment.gateway.peer_ca_file.read_text()


async def wait_for(
    check: Any, *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
