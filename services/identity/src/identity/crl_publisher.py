"""Publishing the CA and its CRL to the gateway: the CRL as served, the files nginx reads, the reload.

The identity worker runs :class:`CrlPublisher` as a periodic job: it polls a cheap "revocation state" (count
and latest time of revocations) and, when it changed or the CRL is due for renewal, signs a new CRL, replaces
the files atomically and sends SIGHUP to the nginx whose pid file it was given (a graceful reload: no restart,
no dropped request). ``python -m identity.crl_publisher --ca-file ... --crl-file ...`` writes both once (for
``make run``, before nginx starts). In containers the gateway watches the file (deploy/gateway/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity import ca
from identity.certificates import repository
from identity.certificates.authority import certificate_authority
from identity.settings import Settings, environment_settings

log = logging.getLogger(__name__)
RevocationState = tuple[int, datetime | None]


async def current_crl(
    session: AsyncSession, *, settings: Settings | None = None
) -> ca.x509.CertificateRevocationList:
    """A freshly signed CRL of every revoked certificate of the deployment."""
    settings = settings or environment_settings()
    authority = await certificate_authority(session, settings=settings)
    revoked = [
        ca.RevokedSerial(int(serial, 16), revoked_at, reason)
        for serial, revoked_at, reason in await repository.revoked_serials(session)
    ]
    # Milliseconds since the epoch: increases with every CRL whichever process signs it (RFC 5280 CRLNumber).
    number = int(time.time() * 1000)
    return await asyncio.to_thread(
        ca.build_crl,
        authority,
        revoked,
        crl_number=number,
        valid_for=timedelta(hours=settings.crl_valid_hours),
    )


class CachedCrl:
    """The API's CRL: re-signed only when a revocation happened or it is due for renewal."""

    def __init__(self) -> None:
        self._state: RevocationState | None = None
        self._signed_at = 0.0
        self._pem = b""

    async def pem(self, session: AsyncSession, *, settings: Settings | None = None) -> bytes:
        settings = settings or environment_settings()
        state = await repository.revocation_state(session)
        if state != self._state or time.monotonic() - self._signed_at > settings.crl_republish_hours * 3600:
            crl = await current_crl(session, settings=settings)
            self._pem = crl.public_bytes(serialization.Encoding.PEM)
            self._state, self._signed_at = state, time.monotonic()
        return self._pem


def write_atomically(path: Path, content: bytes) -> bool:
    """Replace ``path`` in one rename (nginx never reads half a file); False when unchanged."""
    with contextlib.suppress(OSError):
        if path.read_bytes() == content:
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    temporary.chmod(0o644)
    os.replace(temporary, path)
    return True


def reload_nginx(pid_file: Path | None) -> bool:
    """SIGHUP to the gateway's master process: it re-reads its configuration and the CRL, gracefully."""
    if pid_file is None:
        return False
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except FileNotFoundError:
        return False  # nginx is not running yet: it will read the file when it starts
    except (OSError, ValueError):
        log.warning("cannot signal the gateway to reload", extra={"pid_file": str(pid_file)})
        return False
    return True


class CrlPublisher:
    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        crl_file: Path,
        ca_file: Path | None = None,
        nginx_pid_file: Path | None = None,
        settings: Settings | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self.crl_file = crl_file
        self.ca_file = ca_file
        self.nginx_pid_file = nginx_pid_file
        self._settings = settings or environment_settings()
        self._published: RevocationState | None = None
        self._published_at = 0.0
        self.reloads = 0

    async def publish_if_changed(self) -> bool:
        """Write the CA and a new CRL when revocations changed (or it is due); True when nginx was told."""
        renew_after = self._settings.crl_republish_hours * 3600
        async with self._sessionmaker() as session, session.begin():
            state = await repository.revocation_state(session)
            if state == self._published and time.monotonic() - self._published_at < renew_after:
                return False
            authority = await certificate_authority(session, settings=self._settings)
            crl = await current_crl(session, settings=self._settings)
        changed = False
        if self.ca_file is not None:
            changed |= write_atomically(self.ca_file, ca.certificate_pem(authority.certificate).encode())
        changed |= write_atomically(self.crl_file, crl.public_bytes(serialization.Encoding.PEM))
        self._published, self._published_at = state, time.monotonic()
        if changed and reload_nginx(self.nginx_pid_file):
            self.reloads += 1
            log.info("gateway told to reload its CRL", extra={"revoked": state[0]})
            return True
        return False

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.publish_if_changed()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("publishing the CRL failed")
            await asyncio.sleep(interval_s)


def publication_job() -> Any:
    """The identity worker's periodic job (a ``yui_common.worker.PeriodicJob``); None when not configured."""
    from yui_common.worker import PeriodicJob

    settings = environment_settings()
    crl_file = settings.gateway_crl_file
    if crl_file is None:
        return None
    publishers: dict[int, CrlPublisher] = {}

    async def run(worker: Any) -> None:
        publisher = publishers.get(id(worker))
        if publisher is None:
            publisher = publishers[id(worker)] = CrlPublisher(
                sessionmaker=worker.sessionmaker,
                crl_file=crl_file,
                ca_file=settings.gateway_ca_file,
                nginx_pid_file=settings.gateway_nginx_pid_file,
                settings=settings,
            )
        await publisher.publish_if_changed()

    return PeriodicJob("crl-publication", settings.crl_poll_interval_s, run)


async def _publish_once(ca_file: Path, crl_file: Path) -> None:
    from yui_common.db import create_engine, create_sessionmaker

    from identity.settings import Settings

    engine = create_engine(Settings())
    try:
        publisher = CrlPublisher(sessionmaker=create_sessionmaker(engine), crl_file=crl_file, ca_file=ca_file)
        await publisher.publish_if_changed()
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write the client-certificate CA and its CRL for the gateway."
    )
    parser.add_argument("--ca-file", type=Path, required=True)
    parser.add_argument("--crl-file", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(_publish_once(args.ca_file, args.crl_file))
    print(f"identity: client CA in {args.ca_file}, CRL in {args.crl_file}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
