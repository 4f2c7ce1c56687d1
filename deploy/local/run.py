"""`make run`: check prerequisites, start S3 and the gateway, migrate and seed, then run every process.

Everything runs in the foreground under honcho (the Procfile is generated into ``.run/Procfile``); SeaweedFS
runs beside it as this script's child. Ctrl-C stops all of it. Where something cannot be started, the
script stops with one sentence saying what to install.

A second deployment beside the first (README, "Two deployments on one machine"): ``YUI_RUN_DIR`` (its own state
directory), ``YUI_PORT_OFFSET`` (every port moved by it: APIs, workers' metrics, gateway, peer port, mail, S3),
``YUI_DATABASE_PREFIX`` and ``YUI_AMQP_URL`` (its own databases and vhost). tests/support/two_stacks.py starts
two deployments with these same helpers.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from deploy.gateway.render import GatewayConfigError, RenderedGateway, find_nginx, render, test_configuration  # noqa: E402
from deploy.local.seaweed import SeaweedFS, SeaweedFSError, port_is_open, s3_answers, start_seaweedfs  # noqa: E402

RUN_DIR = REPO_ROOT / ".run"
DEMO_LOGINS = Path(__file__).with_name("demo-logins.txt")
# service: (API port, worker metrics port), as in docs/runtime-contract.md
SERVICES = {
    "identity": (8101, 9101),
    "consent": (8102, 9102),
    "timeline": (8103, 9103),
    "portal": (8104, 9104),
    "notify": (8105, 9105),
    "federation": (8106, 9106),
}
SEEDED = ("identity", "consent", "portal")
# Seeded once every process is up: the timeline's demo week is written through timeline's use cases, which need
# consent's events (the patients' consent and care teams) to have reached timeline through the bus.
# federation's: the demo's agreement of demo with tonari, proposed and accepted as two operators do, its signed
# messages delivered by federation's worker.
SEEDED_WHEN_RUNNING = ("timeline", "federation")
# notify's local SMTP catcher (notify's default SMTP port): each e-mail Yui sends is saved as an .eml file.
MAIL_PORT = 8025
MAIL_DIR = RUN_DIR / "mail"
S3_PORT = 8333
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0


class CannotRunError(Exception):
    """A prerequisite is missing or a step failed; the message is the one sentence to print."""


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def run_dir(env: dict[str, str]) -> Path:
    """This deployment's state directory: .run/, or YUI_RUN_DIR for a second deployment beside it."""
    return Path(env.get("YUI_RUN_DIR") or RUN_DIR).resolve()


def port_offset(env: dict[str, str]) -> int:
    return int(env.get("YUI_PORT_OFFSET") or 0)


def service_ports(offset: int = 0) -> dict[str, tuple[int, int]]:
    """Each service's (API port, worker metrics port), moved by ``offset``."""
    return {service: (api + offset, metrics + offset) for service, (api, metrics) in SERVICES.items()}


def local_addresses(env: dict[str, str], offset: int) -> None:
    """Where each process of this deployment listens and finds the others, moved by ``offset`` (nothing is set
    that a variable already gives). With no offset only what `make run` always set is set."""
    ports = service_ports(offset)
    for service, (_, metrics_port) in ports.items():
        env.setdefault(f"YUI_{service.upper()}_WORKER_METRICS_PORT", str(metrics_port))
    from deploy.gateway.render import DEFAULT_PEER_PORT, DEFAULT_PORT

    env.setdefault("YUI_GATEWAY_PEER_PORT", str(DEFAULT_PEER_PORT + offset))
    if not offset:
        return
    env.setdefault("YUI_GATEWAY_PORT", str(DEFAULT_PORT + offset))
    env.setdefault("YUI_S3_ENDPOINT", f"127.0.0.1:{S3_PORT + offset}")
    # notify sends to this deployment's mail catcher (write_procfile starts it at MAIL_PORT + offset).
    env.setdefault("YUI_NOTIFY_SMTP_PORT", str(MAIL_PORT + offset))
    for service, (api_port, _) in ports.items():
        env.setdefault(f"YUI_GATEWAY_{service.upper()}_UPSTREAM", f"127.0.0.1:{api_port}")
        # Every service's <svc>_url setting (identity, portal and federation call their neighbours directly).
        env.setdefault(f"YUI_{service.upper()}_URL", f"http://127.0.0.1:{api_port}")
    env.setdefault("YUI_JWKS_URL", f"http://127.0.0.1:{ports['identity'][0]}/.well-known/jwks.json")
    env.setdefault(
        "YUI_TIMELINE_FEDERATION_JWKS_URL",
        f"http://127.0.0.1:{ports['federation'][0]}/.well-known/yui-federation",
    )


def check_services_reachable(env: dict[str, str]) -> None:
    pg_host, pg_port = _host_port(env.get("YUI_POSTGRES_URL", "postgresql://127.0.0.1:5432"), 5432)
    if not port_is_open(pg_host, pg_port, timeout=2):
        raise CannotRunError(
            f"PostgreSQL is not answering on {pg_host}:{pg_port}: install and start it "
            "(Debian: `apt-get install postgresql`, then `pg_ctlcluster <version> main start`) "
            "or point YUI_POSTGRES_URL at a running server."
        )
    mq_host, mq_port = _host_port(env.get("YUI_AMQP_URL", "amqp://127.0.0.1:5672/"), 5672)
    if not port_is_open(mq_host, mq_port, timeout=2):
        raise CannotRunError(
            f"RabbitMQ is not answering on {mq_host}:{mq_port}: install and start it "
            "(Debian: `apt-get install rabbitmq-server`, then `rabbitmq-server -detached`) "
            "or point YUI_AMQP_URL at a running broker."
        )


def ensure_nginx() -> str:
    nginx = find_nginx()
    if nginx:
        return nginx
    if os.geteuid() != 0:
        raise CannotRunError(
            "nginx is not installed: install it (Debian: `sudo apt-get install nginx`) "
            "and run `make run` again."
        )
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise CannotRunError("nginx is not installed: install it with your system's package manager.")
    print("run: nginx is missing; installing it with apt-get", flush=True)
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt_get, "install", "-y", "-q", "--no-install-recommends", "nginx"]
    if subprocess.run(install, env=apt_env, stdin=subprocess.DEVNULL, check=False).returncode != 0:  # noqa: S603
        # The package lists may be missing (fresh container) or stale: refresh once and retry.
        subprocess.run([apt_get, "update", "-q"], env=apt_env, stdin=subprocess.DEVNULL, check=False)  # noqa: S603
        subprocess.run(install, env=apt_env, stdin=subprocess.DEVNULL, check=False)  # noqa: S603
    nginx = find_nginx()
    if not nginx:
        raise CannotRunError(
            "Installing nginx with apt-get failed: install it by hand (`apt-get install nginx`) "
            "and run `make run` again."
        )
    return nginx


def check_ports_free(ports: list[int]) -> None:
    busy = [port for port in ports if port_is_open("127.0.0.1", port)]
    if busy:
        raise CannotRunError(
            f"Port{'s' if len(busy) > 1 else ''} {', '.join(map(str, busy))} already in use on 127.0.0.1 "
            "(is another `make run` still running?): stop that process and try again."
        )


def ensure_s3(env: dict[str, str], directory: Path = RUN_DIR) -> SeaweedFS | None:
    """Reuse an S3 store that answers with our credentials, otherwise start SeaweedFS; None when reused."""
    endpoint = env.get("YUI_S3_ENDPOINT", "127.0.0.1:8333")
    access_key = env.get("YUI_S3_ACCESS_KEY", "yui-dev")
    secret_key = env.get("YUI_S3_SECRET_KEY", "yui-dev-secret")
    secure = env.get("YUI_S3_SECURE", "false").lower() in ("1", "true", "yes")
    if s3_answers(endpoint, access_key, secret_key, secure=secure):
        print(f"run: using the S3 store already answering at {endpoint}", flush=True)
        return None
    host, _, port = endpoint.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit() or secure:
        raise CannotRunError(
            f"The S3 store at YUI_S3_ENDPOINT={endpoint} does not accept a write with the configured "
            "credentials: start it, or unset YUI_S3_ENDPOINT so `make run` starts SeaweedFS."
        )
    if port_is_open("127.0.0.1", int(port)):
        raise CannotRunError(
            f"Port {port} is taken by something that is not an S3 store accepting our credentials: "
            "stop it or set YUI_S3_ENDPOINT to a free local port."
        )
    print(f"run: starting SeaweedFS (S3 on 127.0.0.1:{port}, data in {directory / 'seaweedfs'})", flush=True)
    try:
        return start_seaweedfs(
            directory / "seaweedfs",
            s3_port=int(port),
            host="127.0.0.1",
            access_key=access_key,
            secret_key=secret_key,
        )
    except SeaweedFSError as error:
        raise CannotRunError(f"SeaweedFS did not start: {error}") from error


def run_step(description: str, command: list[str], env: dict[str, str]) -> None:
    print(f"run: {description}", flush=True)
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, check=False)  # noqa: S603
    if result.returncode != 0:
        raise CannotRunError(
            f"`{' '.join(command[1:])}` failed with exit code {result.returncode} (its output is above)."
        )


def wire_federation(env: dict[str, str], gateway: RenderedGateway, directory: Path) -> None:
    """Federation between deployments (deploy/gateway/README.md, "Peer deployments"): federation's client
    certificate and the peer port's server certificate, both from this deployment's CA (identity's), which is
    also the first CA the peer port trusts; federation's base URL is the peer port, and its worker keeps the
    port's CA bundle (our CA, introduced CAs, every agreement's pinned CA) and reloads nginx.

    Skipped when YUI_FEDERATION_CLIENT_CERT_FILE is set: the deployment then names its own certificates.
    """
    if env.get("YUI_FEDERATION_CLIENT_CERT_FILE"):
        return
    files = directory / "federation"
    own_ca = files / "ca.pem"
    host = urlsplit(env.get("YUI_PUBLIC_URL", "https://localhost")).hostname or "localhost"
    run_step(
        "issuing federation's certificates from our CA",
        [
            sys.executable,
            "-m",
            "identity.federation_certificate",
            "--cert-file",
            str(files / "client.crt"),
            "--key-file",
            str(files / "client.key"),
            "--ca-file",
            str(own_ca),
            "--server-cert-file",
            str(files / "peer-port.crt"),
            "--server-key-file",
            str(files / "peer-port.key"),
            "--host",
            host,
            "--host",
            "127.0.0.1",
        ],
        env,
    )
    env["YUI_FEDERATION_CLIENT_CERT_FILE"] = str(files / "client.crt")
    env["YUI_FEDERATION_CLIENT_KEY_FILE"] = str(files / "client.key")
    env.setdefault("YUI_FEDERATION_CA_CERT_FILE", str(own_ca))
    env.setdefault("YUI_GATEWAY_PEER_CERT_FILE", str(files / "peer-port.crt"))
    env.setdefault("YUI_GATEWAY_PEER_KEY_FILE", str(files / "peer-port.key"))
    env.setdefault("YUI_FEDERATION_BASE_URL", f"https://{host}:{gateway.peer_port}")
    if gateway.peer_ca_file is not None and not env.get("YUI_GATEWAY_PEER_CA_FILE"):
        env["YUI_FEDERATION_GATEWAY_PEER_CA_FILE"] = str(gateway.peer_ca_file)
        env["YUI_FEDERATION_GATEWAY_NGINX_PID_FILE"] = str(gateway.pid_file)
        # Until the worker writes the whole bundle, our own CA (two networks of this deployment) is in it.
        ours = own_ca.read_text()
        present = gateway.peer_ca_file.read_text() if gateway.peer_ca_file.is_file() else ""
        if ours not in present:
            gateway.peer_ca_file.write_text(
                ours if "key discarded" in present or not present else present + ours
            )


def wire_client_certificates(env: dict[str, str], nginx: str, directory: Path = RUN_DIR) -> RenderedGateway:
    """Let the gateway verify client certificates against identity's CA and CRL, and identity's worker
    refresh that CRL (it rewrites the file and sends nginx SIGHUP: deploy/gateway/README.md).

    Skipped when YUI_GATEWAY_CLIENT_CA_FILE is set: the gateway then trusts the CA it names.
    """
    runtime = directory / "gateway"
    if not env.get("YUI_GATEWAY_CLIENT_CA_FILE"):
        ca_file, crl_file = runtime / "client-ca" / "ca.pem", runtime / "client-ca" / "crl.pem"
        run_step(
            "publishing the client-certificate CA and its CRL for the gateway",
            [
                sys.executable,
                "-m",
                "identity.crl_publisher",
                "--ca-file",
                str(ca_file),
                "--crl-file",
                str(crl_file),
            ],
            env,
        )
        env["YUI_GATEWAY_CLIENT_CA_FILE"] = str(ca_file)
        env["YUI_GATEWAY_CLIENT_CRL_FILE"] = str(crl_file)
        env.setdefault("YUI_IDENTITY_GATEWAY_CA_FILE", str(ca_file))
        env.setdefault("YUI_IDENTITY_GATEWAY_CRL_FILE", str(crl_file))
        env.setdefault("YUI_IDENTITY_GATEWAY_NGINX_PID_FILE", str(runtime / "nginx.pid"))
    try:
        gateway = render(runtime, env)
    except GatewayConfigError as error:
        raise CannotRunError(f"The gateway configuration cannot be rendered: {error}.") from error
    checked = test_configuration(gateway, nginx)
    if checked.returncode != 0:
        raise CannotRunError(f"nginx rejected the client-certificate configuration: {checked.stderr.strip()}")
    return gateway


def process_commands(
    ports: dict[str, tuple[int, int]], gateway: RenderedGateway | None = None, nginx: str | None = None
) -> dict[str, list[str]]:
    """Each process of a deployment and its command line: every service's api and worker (of ``ports``), and
    the gateway when given."""
    commands: dict[str, list[str]] = {}
    for service, (api_port, _) in ports.items():
        commands[f"{service}-api"] = [
            sys.executable,
            "-m",
            service,
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(api_port),
        ]
        commands[f"{service}-worker"] = [sys.executable, "-m", service, "worker"]
    if gateway is not None:
        commands["gateway"] = gateway.nginx_command(nginx)
    return commands


def write_procfile(gateway: RenderedGateway, nginx: str, directory: Path = RUN_DIR, offset: int = 0) -> Path:
    commands = process_commands(service_ports(offset), gateway, nginx)
    mail_dir = directory / "mail"
    commands["mail"] = [
        sys.executable,
        "-m",
        "notify.mail_catcher",
        "--port",
        str(MAIL_PORT + offset),
        "--directory",
        str(mail_dir),
    ]
    lines = [
        f"{name}: exec " + " ".join(shlex.quote(part) for part in command)
        for name, command in commands.items()
    ]
    procfile = directory / "Procfile"
    procfile.write_text(
        "# Generated by deploy/local/run.py; edits are overwritten.\n" + "\n".join(lines) + "\n"
    )
    return procfile


def not_ready(gateway: RenderedGateway, services: tuple[str, ...] = tuple(SERVICES)) -> list[str]:
    """Services whose /readyz does not answer 200 through the gateway yet."""
    context = ssl.create_default_context(cafile=str(gateway.cert_file))
    waiting = []
    for service in services:
        # federation is reached from outside only where peers call it (deploy/gateway): its published keys.
        path = "/.well-known/yui-federation" if service == "federation" else f"/api/{service}/readyz"
        url = f"https://localhost:{gateway.port}{path}"
        try:
            with urllib.request.urlopen(url, context=context, timeout=3) as response:
                if response.status == 200:
                    continue
        except (urllib.error.URLError, OSError):
            pass
        waiting.append(service)
    return waiting


def demo_people(slug: str = "demo") -> list[str]:
    """One line per demo login of the network ``slug``: who it is, in Japanese, from the seeds' own list
    (yui_common.demo)."""
    from yui_common import demo
    from yui_common.vocabulary import profession_label

    network = next((n for n in demo.NETWORKS if n.tenant == slug), None)
    if network is None:
        return []
    facilities = {**demo.FACILITIES, **demo.NEIGHBOUR_FACILITIES}
    lines = []
    for login_id, person in network.users.items():
        role = profession_label(person.profession, "ja")
        if "facility_admin" in person.roles:
            role += "・施設管理者"
        if "operator" in person.roles:
            role = f"{role}・ネットワーク運営者"
        who = f"{person.name}（{role}、{facilities[person.facility_id].name}）"
        lines.append(f"{login_id:<12} {who}")
    if network is demo.NEIGHBOUR:
        # Its first operator was made by the contractor's use case with the network (identity's seed).
        role = f"{profession_label('municipal_staff', 'ja')}・ネットワーク運営者"
        who = f"{demo.NEIGHBOUR_OPERATOR_NAME}（{role}、{demo.NEIGHBOUR_OPERATOR_OFFICE}）"
        lines.append(f"{demo.NEIGHBOUR_OPERATOR_LOGIN:<12} {who}")
    return lines


PEOPLE_LINE = re.compile(r"^(\s*)\{people(?::([a-z0-9-]+))?\}$")


def demo_logins() -> list[str]:
    with contextlib.suppress(OSError):
        lines = [
            line.rstrip()
            for line in DEMO_LOGINS.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        # A "{people:<slug>}" line ("{people}": the demo network) stands for that network's demo people, listed
        # from the seeds' own data, indented as the line is.
        listed = []
        for line in lines:
            people = PEOPLE_LINE.match(line)
            if people is None:
                listed.append(line)
            else:
                indent, slug = people.group(1), people.group(2) or "demo"
                listed += [indent + person for person in demo_people(slug)]
        return listed
    return []


def print_banner(
    gateway: RenderedGateway, public_url: str, directory: Path = RUN_DIR, offset: int = 0
) -> None:
    print("", flush=True)
    print(f"Yui is running at {public_url}/", flush=True)
    print(f"  (self-signed certificate for localhost: {gateway.cert_file})")
    print(f"Peer deployments reach federation at https://localhost:{gateway.peer_port}/ (mutual TLS)")
    logins = demo_logins()
    if logins:
        print("Demo logins:")
        for line in logins:
            print(f"  {line}")
    print(f"E-mail from Yui is saved in {directory / 'mail'}/ (SMTP on 127.0.0.1:{MAIL_PORT + offset})")
    print("Ctrl-C stops everything.\n", flush=True)


def supervise(
    honcho: subprocess.Popen[bytes],
    gateway: RenderedGateway,
    public_url: str,
    env: dict[str, str],
    directory: Path = RUN_DIR,
    offset: int = 0,
) -> int:
    """Wait for readiness, seed what needs the running stack, print the banner, then wait for honcho; returns
    its exit code."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    announced = False
    while honcho.poll() is None:
        if not announced:
            waiting = not_ready(gateway)
            if not waiting:
                for service in SEEDED_WHEN_RUNNING:
                    run_step(f"seeding {service}", [sys.executable, "-m", service, "seed"], env)
                print_banner(gateway, public_url, directory, offset)
                announced = True
            elif time.monotonic() > deadline:
                print(
                    f"run: not ready after {READY_TIMEOUT_S:.0f} s: {', '.join(waiting)} "
                    "(see their lines above); still running, Ctrl-C stops everything.",
                    flush=True,
                )
                announced = True
        time.sleep(1)
    return honcho.returncode or 0


def stop_honcho(honcho: subprocess.Popen[bytes]) -> None:
    """Honcho terminates its children on SIGINT/SIGTERM; give it time, then force."""
    if honcho.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            honcho.send_signal(signal.SIGTERM)
    try:
        honcho.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        honcho.kill()
        honcho.wait()


def portal_session_key(env: dict[str, str], directory: Path = RUN_DIR) -> None:
    """One staff-session key for every portal process and every restart (kept in .run/), so `make run`
    behaves like a deployment: restarting does not sign everybody out."""
    if env.get("YUI_PORTAL_STAFF_SESSION_KEY"):
        return
    key_file = directory / "portal-session-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        key_file.chmod(0o600)
    env["YUI_PORTAL_STAFF_SESSION_KEY"] = key_file.read_text(encoding="utf-8").strip()


def audit_keys(env: dict[str, str], directory: Path = RUN_DIR) -> None:
    """Each service's Ed25519 key that signs its audit seal heads, kept in .run/ across restarts."""
    from yui_common.audit_seal import ensure_audit_key

    for service in SERVICES:
        variable = f"YUI_{service.upper()}_AUDIT_KEY_FILE"
        if not env.get(variable):
            env[variable] = str(ensure_audit_key(directory / f"audit-key-{service}.pem"))


def content_signing_key(env: dict[str, str], directory: Path = RUN_DIR) -> None:
    """Timeline's key that signs posts and attachments, in this deployment's state directory (its default path is
    .run/ under the working directory, which a second deployment beside the first would share)."""
    env.setdefault("YUI_TIMELINE_SIGNING_KEY_FILE", str(directory / "timeline-signing-key.pem"))


def gateway_secret(env: dict[str, str], directory: Path = RUN_DIR) -> None:
    """The secret the gateway sends the services with every request, so they believe its client-certificate
    headers and nobody else's (yui_common.auth): one random value in .run/, read by nginx and every service."""
    if env.get("YUI_GATEWAY_SECRET") or env.get("YUI_GATEWAY_SECRET_FILE"):
        return
    secret_file = directory / "gateway-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        secret_file.chmod(0o600)
    env["YUI_GATEWAY_SECRET_FILE"] = str(secret_file)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    os.chdir(REPO_ROOT)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    directory, offset = run_dir(env), port_offset(env)
    local_addresses(env, offset)
    directory.mkdir(parents=True, exist_ok=True)
    portal_session_key(env, directory)
    gateway_secret(env, directory)
    audit_keys(env, directory)
    content_signing_key(env, directory)

    seaweed: SeaweedFS | None = None
    honcho: subprocess.Popen[bytes] | None = None
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)
    try:
        check_services_reachable(env)
        nginx = ensure_nginx()
        try:
            gateway = render(directory / "gateway", env)
        except GatewayConfigError as error:
            raise CannotRunError(f"The gateway configuration cannot be rendered: {error}.") from error
        env.setdefault("YUI_PUBLIC_URL", f"https://localhost:{gateway.port}")
        ports = [gateway.port, gateway.peer_port, MAIL_PORT + offset]
        ports += [port for pair in service_ports(offset).values() for port in pair]
        check_ports_free(ports)
        checked = test_configuration(gateway, nginx)
        if checked.returncode != 0:
            raise CannotRunError(f"nginx rejected the gateway configuration: {checked.stderr.strip()}")

        seaweed = ensure_s3(env, directory)
        for service in SERVICES:
            run_step(f"migrating {service}", [sys.executable, "-m", service, "migrate"], env)
        for service in SEEDED:
            run_step(f"seeding {service}", [sys.executable, "-m", service, "seed"], env)
        wire_federation(env, gateway, directory)
        gateway = wire_client_certificates(env, nginx, directory)

        procfile = write_procfile(gateway, nginx, directory, offset)
        print("run: starting every API, worker and the gateway (honcho)", flush=True)
        honcho = subprocess.Popen(  # noqa: S603 - fixed argument list
            [sys.executable, "-m", "honcho", "start", "-f", str(procfile), "-d", str(REPO_ROOT)],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        return supervise(honcho, gateway, env["YUI_PUBLIC_URL"], env, directory, offset)
    except CannotRunError as error:
        print(f"\nmake run: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        # A second Ctrl-C while stopping must not leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if honcho is not None:
            stop_honcho(honcho)
        if seaweed is not None:
            seaweed.stop()


if __name__ == "__main__":
    raise SystemExit(main())
