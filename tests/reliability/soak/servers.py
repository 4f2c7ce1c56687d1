"""The soak's own PostgreSQL cluster and RabbitMQ node: started, restarted and removed by the soak alone.

The machine's PostgreSQL (5432) and RabbitMQ (5672) serve every other test and engineer; restarting them would
break their runs. So the soak makes a second cluster with Debian's postgresql-common (``pg_createcluster``) and
a second RabbitMQ node (its own node name, ports, data and log directories, configuration and Erlang cookie),
and restarts only those. Both need root (postgresql-common switches to the postgres user itself).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

COMMAND_TIMEOUT_S = 120.0


class ServerError(RuntimeError):
    """A private server could not be created, started or stopped; the message says which and why."""


def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's choice; taken again at once by the caller)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_answers(port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=timeout):
        return True
    return False


def wait_for_port(port: int, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_answers(port):
            return
        time.sleep(0.2)
    raise ServerError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def _run(command: list[str], *, env: dict[str, str] | None = None, check: bool = True) -> str:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise ServerError(
            f"`{' '.join(command)}` failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
        )
    return result.stdout + result.stderr


# ------------------------------------------------------------------------------------------------ PostgreSQL


def installed_postgres_version() -> str:
    """The newest PostgreSQL major version postgresql-common knows of (the one the machine's cluster runs)."""
    versions = sorted((p.name for p in Path("/usr/lib/postgresql").iterdir() if p.name.isdigit()), key=int)
    if not versions or shutil.which("pg_createcluster") is None:
        raise ServerError(
            "the soak needs Debian's postgresql-common (pg_createcluster) and a PostgreSQL server"
        )
    return versions[-1]


@dataclass
class PrivatePostgres:
    """``pg_createcluster <version> <name> -p <port>``, trusting local TCP, restarted with ``pg_ctlcluster``."""

    name: str
    port: int = field(default_factory=free_port)
    version: str = field(default_factory=installed_postgres_version)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"

    @property
    def config_dir(self) -> Path:
        return Path("/etc/postgresql") / self.version / self.name

    def exists(self) -> bool:
        return self.config_dir.exists()

    def create(self) -> None:
        if self.exists():  # left by a run that was killed: nothing in it is worth keeping
            self.drop()
        _run(["pg_createcluster", self.version, self.name, "-p", str(self.port)])
        # Ten service processes with their pools and LISTEN connections, and the checks' own; TCP on loopback only.
        (self.config_dir / "conf.d" / "soak.conf").write_text(
            "max_connections = 300\nshared_buffers = '64MB'\nlisten_addresses = '127.0.0.1'\n"
        )
        # Trust on local TCP and the socket, as on the development machines' main cluster.
        (self.config_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
        )
        self.start()

    def start(self) -> None:
        _run(["pg_ctlcluster", self.version, self.name, "start"])
        wait_for_port(self.port, timeout=60, what=f"PostgreSQL cluster {self.name}")

    def restart(self) -> None:
        """A real restart (fast mode: every connection is cut), then wait until it accepts connections."""
        _run(["pg_ctlcluster", self.version, self.name, "restart"])
        wait_for_port(self.port, timeout=60, what=f"PostgreSQL cluster {self.name}")

    def drop(self) -> None:
        _run(["pg_dropcluster", "--stop", self.version, self.name], check=False)


# ------------------------------------------------------------------------------------------------ RabbitMQ


RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


def _rabbitmq_tool(name: str) -> str:
    # The Debian wrappers in /usr/sbin switch to the rabbitmq user (and its cookie); the node runs as root here
    # with a home of its own, so the tools are called directly.
    direct = RABBITMQ_BIN / name
    if direct.exists():
        return str(direct)
    found = shutil.which(name)
    if found is None:
        raise ServerError(f"the soak needs RabbitMQ's {name} (Debian: apt-get install rabbitmq-server)")
    return found


@dataclass
class PrivateRabbitMQ:
    """A second RabbitMQ node on this machine: ``rabbitmq-server -detached`` with everything of its own."""

    name: str
    base: Path
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)

    @property
    def node(self) -> str:
        return f"{self.name}@localhost"

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def environment(self) -> dict[str, str]:
        home = self.base / "home"
        return {
            **os.environ,
            "HOME": str(home),  # its own Erlang cookie, shared only with our rabbitmqctl calls
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            # The machine's rabbitmq.conf names 5672: this node reads a configuration of its own.
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config"),
        }

    def start(self) -> None:
        for directory in ("home", "mnesia", "log"):
            (self.base / directory).mkdir(parents=True, exist_ok=True)
        (self.base / "home").chmod(0o700)
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users.guest = true\n"
        )
        (self.base / "rabbitmq-env.conf").write_text("")
        (self.base / "advanced.config").write_text("[].\n")
        subprocess.run(
            [_rabbitmq_tool("rabbitmq-server"), "-detached"],
            env=self.environment(),
            cwd=self.base,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        self.wait_running()

    def wait_running(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            result = subprocess.run(
                [_rabbitmq_tool("rabbitmqctl"), "-n", self.node, "await_startup", "--timeout", "10"],
                env=self.environment(),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            if result.returncode == 0 and port_answers(self.port):
                return
            last = (result.stdout + result.stderr).strip()[-1000:]
            time.sleep(1)
        raise ServerError(f"RabbitMQ node {self.node} did not start within {timeout:.0f} s: {last}")

    def ctl(self, *args: str, check: bool = True) -> str:
        return _run(
            [_rabbitmq_tool("rabbitmqctl"), "-n", self.node, *args], env=self.environment(), check=check
        )

    def restart(self) -> None:
        """The broker goes away for every client (stop_app closes all connections) and comes back."""
        self.ctl("stop_app")
        self.ctl("start_app")
        self.wait_running()

    def queue_depths(self) -> dict[str, int]:
        """Messages (ready + unacknowledged) in every queue of the default vhost."""
        listed = self.ctl("list_queues", "-q", "--no-table-headers", "name", "messages")
        depths = {}
        for line in listed.splitlines():
            parts = line.split("\t")
            if len(parts) == 2 and parts[1].strip().isdigit():
                depths[parts[0]] = int(parts[1])
        return depths

    def bindings(self, exchange: str) -> list[tuple[str, str]]:
        """(queue, routing-key pattern) of every binding from ``exchange``."""
        listed = self.ctl(
            "list_bindings", "-q", "--no-table-headers", "source_name", "destination_name", "routing_key"
        )
        found = []
        for line in listed.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[0] == exchange:
                found.append((parts[1], parts[2]))
        return found

    def stop(self) -> None:
        self.ctl("stop", check=False)
        # A node that would not stop is not left running beside everyone's broker.
        pid_file = self.base / "node.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.5)
            if _alive(pid):
                os.kill(pid, 9)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` zero or more."""
    regex = (
        "^"
        + r"\.".join(
            "[^.]+" if word == "*" else ".*" if word == "#" else re.escape(word)
            for word in pattern.split(".")
        )
        + "$"
    )
    # "a.#" must also match "a": a '#' with its dot may stand for nothing.
    regex = regex.replace(r"\..*", r"(\..*)?").replace(r".*\.", r"(.*\.)?")
    return re.match(regex, routing_key) is not None
