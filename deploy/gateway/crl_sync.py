"""The gateway pod's CRL sidecar (Kubernetes): keeps identity's CA and CRL current in a volume nginx reads.

    python crl_sync.py --identity-url http://identity-api:8000 \\
        --ca-file /var/lib/yui/client-ca/ca.pem --crl-file /var/lib/yui/client-ca/crl.pem [--interval 5]

In docker compose the identity worker writes these files into a volume the gateway mounts; Kubernetes has
no volume that pods on different nodes share without a ReadWriteMany storage class, so the gateway pod
fetches them instead from identity's public endpoints (``GET /ca.pem``, ``GET /crl.pem``), and with
``--peer-ca-url``/``--peer-ca-file`` federation's peer-CA bundle (``GET /peer-cas.pem``: the CAs the gateway's
peer port admits client certificates from, README.md "Peer deployments") into an
``emptyDir`` shared with its nginx container, whose ``15-yui-client-cert.sh`` watcher reloads nginx when the
CRL file changes. The edge pod so needs neither identity's database credentials nor the CA's passphrase.

Each identity API replica signs its own copy of the same list (re-signed on a revocation and daily), so two
answers in a row can differ in bytes but not in content: the file is replaced only when the revoked
serials (or the issuer) changed, or the fetched list lives materially longer (a renewal), and never with a
list whose signature does not verify against the CA or whose nextUpdate has passed (nginx would then refuse
every client certificate). Runs with the yui image's Python (standard library and ``cryptography``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

log = logging.getLogger("yui.crl_sync")
# A fetched list that outlives the current one by at least this much is a renewal worth a reload.
RENEWAL_STEP = dt.timedelta(hours=1)

Fetch = Callable[[str], bytes]


class CrlSyncError(RuntimeError):
    """What identity answered cannot be given to nginx."""


@dataclass(frozen=True)
class Published:
    """What was written: True for each file replaced."""

    ca: bool
    crl: bool


def fetch_url(url: str, timeout_s: float = 10.0) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise CrlSyncError(f"not an http(s) URL: {url}")
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - scheme checked above
        body: bytes = response.read()
        return body


def _next_update(crl: x509.CertificateRevocationList) -> dt.datetime:
    value = crl.next_update_utc
    if value is None:
        raise CrlSyncError("the CRL has no nextUpdate")
    return value


def revoked_serials(crl: x509.CertificateRevocationList) -> frozenset[int]:
    return frozenset(entry.serial_number for entry in crl)


def should_replace(
    current: x509.CertificateRevocationList | None, fetched: x509.CertificateRevocationList
) -> bool:
    """True when nginx should get ``fetched`` instead of ``current`` (see the module docstring)."""
    if current is None or current.issuer != fetched.issuer:
        return True
    if revoked_serials(current) != revoked_serials(fetched):
        return True
    return _next_update(fetched) >= _next_update(current) + RENEWAL_STEP


def checked_crl(pem: bytes, ca: x509.Certificate, now: dt.datetime) -> x509.CertificateRevocationList:
    """The CRL in ``pem`` if the CA signed it and it is still valid; otherwise CrlSyncError."""
    try:
        crl = x509.load_pem_x509_crl(pem)
    except ValueError as error:
        raise CrlSyncError(f"not a PEM CRL: {error}") from error
    public_key = ca.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise CrlSyncError("the CA's key type cannot sign a CRL")
    if crl.issuer != ca.subject or not crl.is_signature_valid(public_key):
        raise CrlSyncError("the CRL is not signed by the CA")
    if _next_update(crl) <= now:
        raise CrlSyncError(f"the CRL expired at {_next_update(crl).isoformat()}")
    return crl


def write_atomically(path: Path, content: bytes) -> bool:
    """Replace ``path`` with one rename (nginx never reads half a file); False when unchanged."""
    try:
        if path.read_bytes() == content:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    temporary.chmod(0o644)
    os.replace(temporary, path)
    return True


def sync_once(
    identity_url: str,
    ca_file: Path,
    crl_file: Path,
    *,
    fetch: Fetch = fetch_url,
    now: dt.datetime | None = None,
) -> Published:
    """Fetch the CA and the CRL from identity and write what changed: the CA first, so that nginx, which
    reloads on a new CRL file, never reads a CRL whose issuer it does not have yet."""
    now = now or dt.datetime.now(dt.UTC)
    base = identity_url.rstrip("/")
    ca_pem = fetch(f"{base}/ca.pem")
    try:
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as error:
        raise CrlSyncError(f"not a PEM certificate: {error}") from error
    fetched = checked_crl(fetch(f"{base}/crl.pem"), ca, now)
    current: x509.CertificateRevocationList | None = None
    try:
        current = x509.load_pem_x509_crl(crl_file.read_bytes())
    except (OSError, ValueError):
        current = None
    ca_written = write_atomically(ca_file, ca_pem)
    if not should_replace(current, fetched):
        return Published(ca=ca_written, crl=False)
    return Published(ca=ca_written, crl=write_atomically(crl_file, fetched.public_bytes(Encoding.PEM)))


def sync_peer_cas(peer_ca_url: str, peer_ca_file: Path, *, fetch: Fetch = fetch_url) -> bool:
    """federation's peer-CA bundle (GET /peer-cas.pem) for the gateway's peer port; written when it changed and
    holds certificates only (an empty or broken answer keeps the last good file). True when written."""
    bundle = fetch(peer_ca_url)
    try:
        if not x509.load_pem_x509_certificates(bundle):
            return False
    except ValueError as error:
        raise CrlSyncError(f"the peer CAs are not PEM certificates: {error}") from error
    return write_atomically(peer_ca_file, bundle)


def run(
    identity_url: str,
    ca_file: Path,
    crl_file: Path,
    interval_s: float,
    peer_cas: tuple[str, Path] | None = None,
) -> None:
    """Forever: sync, then wait. A failure keeps the last good files (nginx goes on with them)."""
    while True:
        try:
            published = sync_once(identity_url, ca_file, crl_file)
            if published.crl or published.ca:
                log.info("published a new %s", "CRL" if published.crl else "CA")
        except (OSError, CrlSyncError) as error:
            log.warning("cannot sync the CRL from %s: %s", identity_url, error)
        if peer_cas is not None:
            try:
                if sync_peer_cas(*peer_cas):
                    log.info("published new peer CAs")
            except (OSError, CrlSyncError) as error:
                log.warning("cannot sync the peer CAs from %s: %s", peer_cas[0], error)
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Keep identity's CA and CRL current for the gateway's nginx."
    )
    parser.add_argument("--identity-url", default=os.environ.get("YUI_CRL_SYNC_IDENTITY_URL", ""))
    parser.add_argument("--ca-file", type=Path, required=True)
    parser.add_argument("--crl-file", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between two polls")
    parser.add_argument(
        "--peer-ca-url", default="", help="federation's GET /peer-cas.pem (the peer port's CAs)"
    )
    parser.add_argument("--peer-ca-file", type=Path, help="where the peer port reads them")
    parser.add_argument("--once", action="store_true", help="sync once and exit (status 1 on failure)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.identity_url:
        parser.error("--identity-url (or YUI_CRL_SYNC_IDENTITY_URL) is required")
    if args.once:
        try:
            sync_once(args.identity_url, args.ca_file, args.crl_file)
        except (OSError, CrlSyncError) as error:
            print(f"crl_sync: {error}", file=sys.stderr)
            return 1
        return 0
    peer_cas = (args.peer_ca_url, args.peer_ca_file) if args.peer_ca_url and args.peer_ca_file else None
    run(args.identity_url, args.ca_file, args.crl_file, args.interval, peer_cas)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
