"""The peer-CA bundle: this deployment's own CA, the CAs its operators were introduced to out of band, and the CA
every agreement that has not ended pins. The gateway's peer port (deploy/gateway/nginx.conf.template) admits only
client certificates issued by one of them, so a deployment whose CA no agreement pins is refused before a byte of
its request reaches this service.

The worker writes the bundle where the gateway reads it and sends nginx SIGHUP (make run), or the gateway's own
hook notices the file changed (compose) or its sidecar fetches ``GET /peer-cas.pem`` (Kubernetes): the same
three ways identity's CRL reaches the gateway (deploy/gateway/README.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from federation.agreements.schemas import ENDED
from federation.models import Agreement
from federation.settings import Settings

log = logging.getLogger(__name__)


def _certificates(pem: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return []


def _read(path: str | None) -> str:
    if not path:
        return ""
    try:
        return Path(path).read_text()
    except OSError:
        log.warning("a CA file named in the settings cannot be read", extra={"path": path})
        return ""


async def peer_ca_bundle(session: AsyncSession, settings: Settings) -> bytes:
    """The bundle's PEM: each CA once, in a stable order (so an unchanged bundle is byte for byte the same)."""
    # An ended agreement's peer may still owe us what only takes data away (a purge's acknowledgement, a referral's
    # end): its CA stays for the retry window after the end, then goes.
    grace = datetime.now(UTC) - timedelta(seconds=settings.key_retry_window_s)
    pinned = await session.scalars(
        sa.select(Agreement.peer_ca_pem).where(
            sa.or_(Agreement.state != ENDED, Agreement.state_changed_at > grace), Agreement.peer_ca_pem != ""
        )
    )
    sources = [_read(settings.ca_cert_file), _read(settings.introduced_ca_file), *pinned]
    certificates: dict[bytes, x509.Certificate] = {}
    for pem in sources:
        for certificate in _certificates(pem):
            certificates.setdefault(certificate.fingerprint(hashes.SHA256()), certificate)
    return b"".join(
        certificates[fingerprint].public_bytes(serialization.Encoding.PEM)
        for fingerprint in sorted(certificates)
    )


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


def reload_nginx(pid_file: str | None) -> bool:
    """SIGHUP to the gateway's master: a graceful reload that re-reads the bundle."""
    if not pid_file:
        return False
    try:
        os.kill(int(Path(pid_file).read_text().strip()), signal.SIGHUP)
    except FileNotFoundError:
        return False  # nginx is not running yet: it reads the file when it starts
    except (OSError, ValueError):
        log.warning("cannot signal the gateway to reload", extra={"pid_file": pid_file})
        return False
    return True


async def publish(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> bool:
    """Write the bundle where the gateway reads it when it changed, and tell nginx; True when it changed."""
    if not settings.gateway_peer_ca_file:
        return False
    async with sessionmaker() as session:
        bundle = await peer_ca_bundle(session, settings)
    if not bundle:
        return False  # nginx refuses an empty CA file; the one render.py made stays until a CA is known
    changed = write_atomically(Path(settings.gateway_peer_ca_file), bundle)
    if changed:
        reload_nginx(settings.gateway_nginx_pid_file)
        log.info("the gateway's peer CAs changed", extra={"bytes": len(bundle)})
    return changed
