"""A self-signed TLS server certificate for the local gateway (localhost, 127.0.0.1, ::1), made if missing.

Run as ``python -m deploy.local.dev_tls --cert server.crt --key server.key`` (the compose file does this in
a one-shot container), or call :func:`ensure_dev_certificate`. Development only: production gateways get a
certificate from the operator's CA or ACME.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
VALIDITY = dt.timedelta(days=397)  # the longest lifetime browsers accept for a server certificate
RENEW_BEFORE = dt.timedelta(days=30)


def _subject_alternative_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _still_usable(cert_path: Path, key_path: Path, hosts: Sequence[str]) -> bool:
    """True when the existing pair matches, covers every host and is not about to expire."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return False
    if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < RENEW_BEFORE:
        return False
    try:
        present = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return False
    return set(_subject_alternative_names(hosts)) <= present


def ensure_dev_certificate(
    cert_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    hosts: Sequence[str] = DEFAULT_HOSTS,
) -> bool:
    """Write a self-signed P-256 certificate and key unless a usable pair exists; True when one was made."""
    cert_path, key_path = Path(cert_path), Path(key_path)
    if _still_usable(cert_path, key_path, hosts):
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Yui development"),
            x509.NameAttribute(NameOID.COMMON_NAME, hosts[0]),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(_subject_alternative_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    # The key is written with owner-only permissions from the start, never world-readable for a moment.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return True


def write_keyless_ca(path: str | os.PathLike[str]) -> None:
    """A self-signed CA certificate whose key is thrown away: a trust list nobody can satisfy. The gateway's peer
    port needs some CA file before the federation worker has written the pinned ones (nginx refuses to start
    without one), and this one admits no client at all."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Yui: no peer pinned yet (key discarded)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cert", required=True, type=Path, help="PEM certificate path")
    parser.add_argument("--key", required=True, type=Path, help="PEM private key path")
    parser.add_argument(
        "--host", action="append", help="DNS name or IP (repeatable); default localhost, 127.0.0.1, ::1"
    )
    args = parser.parse_args(argv)
    made = ensure_dev_certificate(args.cert, args.key, tuple(args.host) if args.host else DEFAULT_HOSTS)
    print(f"{'created' if made else 'kept'} {args.cert}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
