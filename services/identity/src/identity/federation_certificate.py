"""Federation's certificates from this deployment's CA (identity's, ca.py): the TLS client certificate federation
presents to peers, and the server certificate of the gateway's peer port.

    python -m identity.federation_certificate --cert-file fed.crt --key-file fed.key [--ca-file ca.pem] \
        [--server-cert-file peer.crt --server-key-file peer.key --host peers.example.jp ...]

Peer deployments pin our CA (their agreements' peer_ca_pem): their gateway's peer port admits only client
certificates a pinned CA issued, and their federation trusts only a server certificate a pinned CA issued, so
both ends of a connection between deployments carry certificates of their own deployment's CA. Each is kept while
it is valid for at least 30 more days (and, for the server, names every host), reissued otherwise. ``make run``
calls it, as does a deployment's operator (docs/operations.md, "Peer deployments").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from identity import ca
from identity.certificates.authority import certificate_authority
from identity.settings import Settings

VALIDITY = dt.timedelta(days=397)
RENEW_BEFORE = dt.timedelta(days=30)


def still_valid(cert_file: Path, key_file: Path, authority_pem: str, hosts: tuple[str, ...] = ()) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key_file.read_bytes()
    except (OSError, ValueError):
        return False
    issuer = x509.load_pem_x509_certificate(authority_pem.encode())
    left = certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)
    if certificate.issuer != issuer.subject or left <= RENEW_BEFORE:
        return False
    if hosts:
        try:
            named = set(certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            return False
        return set(_names(hosts)) <= named
    return True


def _names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write_pair(
    cert_file: Path, key_file: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
) -> None:
    for path in (cert_file, key_file):
        path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_file.write_text(ca.certificate_pem(certificate))


def issue_server_certificate(
    authority: ca.CertificateAuthorityKeys, hosts: tuple[str, ...]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A P-256 TLS server certificate for the gateway's peer port, naming ``hosts``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64])]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(ca.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(authority.private_key, hashes.SHA256())
    )
    return certificate, key


async def deployment_authority() -> tuple[ca.CertificateAuthorityKeys, str]:
    """Our CA (created on first use, as the API creates it) and the public URL the certificates name."""
    from yui_common.db import create_engine, create_sessionmaker

    settings = Settings()
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            authority = await certificate_authority(session, settings=settings)
    finally:
        await engine.dispose()
    return authority, settings.public_url


def issue(
    cert_file: Path,
    key_file: Path,
    ca_file: Path | None,
    server: tuple[Path, Path, tuple[str, ...]] | None = None,
) -> bool:
    """Write the client certificate and key (and our CA, and the peer port's server pair) unless valid ones from
    our CA are there; True when anything was issued."""
    authority, public_url = asyncio.run(deployment_authority())
    authority_pem = ca.certificate_pem(authority.certificate)
    if ca_file is not None:
        ca_file.parent.mkdir(parents=True, exist_ok=True)
        ca_file.write_text(authority_pem)
    issued = False
    if server is not None and not still_valid(server[0], server[1], authority_pem, server[2]):
        _write_pair(server[0], server[1], *issue_server_certificate(authority, server[2]))
        issued = True
    if still_valid(cert_file, key_file, authority_pem):
        return issued
    host = urlsplit(public_url).hostname or "localhost"
    certificate, key = ca.issue_client_certificate(
        authority,
        network="Yui federation",
        facility_name=host,
        terminal_label=f"federation@{host}",
        user_id="federation",
        valid_for=VALIDITY,
    )
    _write_pair(cert_file, key_file, certificate, key)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Issue federation's TLS client certificate from our CA.")
    parser.add_argument("--cert-file", type=Path, required=True)
    parser.add_argument("--key-file", type=Path, required=True)
    parser.add_argument("--ca-file", type=Path, help="also write our CA certificate here")
    parser.add_argument("--server-cert-file", type=Path, help="the gateway's peer-port server certificate")
    parser.add_argument("--server-key-file", type=Path)
    parser.add_argument(
        "--host", action="append", help="a name of the peer port (repeatable; default localhost)"
    )
    args = parser.parse_args(argv)
    server = None
    if args.server_cert_file and args.server_key_file:
        server = (args.server_cert_file, args.server_key_file, tuple(args.host or ("localhost", "127.0.0.1")))
    issued = issue(args.cert_file, args.key_file, args.ca_file, server)
    print(f"identity: federation's certificates {'issued' if issued else 'kept'} ({args.cert_file})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
