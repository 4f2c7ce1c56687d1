"""The client-certificate CA's cryptography: root CA, client certificates, PKCS#12, CRL, fingerprints."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALIDITY = dt.timedelta(days=20 * 365)
# Clock skew between identity and the gateway must not make a fresh certificate "not yet valid".
BACKDATE = dt.timedelta(minutes=5)
# PBKDF2 rounds of the PKCS#12 file: the file leaves our hands protected only by a short PIN.
PKCS12_KDF_ROUNDS = 200_000

# Why a certificate was revoked (our vocabulary) and the RFC 5280 reason code the CRL carries.
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "terminal_lost": x509.ReasonFlags.key_compromise,
    "terminal_retired": x509.ReasonFlags.cessation_of_operation,
    "key_compromised": x509.ReasonFlags.key_compromise,
    "user_left": x509.ReasonFlags.affiliation_changed,
    "user_suspended": x509.ReasonFlags.certificate_hold,
    "facility_withdrawn": x509.ReasonFlags.cessation_of_operation,
    "superseded": x509.ReasonFlags.superseded,
    "other": x509.ReasonFlags.unspecified,
}


@dataclass(frozen=True)
class CertificateAuthorityKeys:
    """The root certificate and its private key, decrypted in memory."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class RevokedSerial:
    serial_number: int
    revoked_at: dt.datetime
    reason: str


def random_serial_number() -> int:
    """128 random bits (RFC 5280 allows up to 20 octets; CA/B Forum asks for at least 64 random bits)."""
    return secrets.randbits(128) or 1


def serial_hex(serial_number: int) -> str:
    return f"{serial_number:032x}"


def fingerprint_sha256(certificate: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the DER certificate: what `cnf.x5t#S256` and the services compare."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def create_root(common_name: str = "Yui client certificate CA") -> CertificateAuthorityKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Yui"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthorityKeys(certificate, key)


def encrypt_private_key(key: ec.EllipticCurvePrivateKey, passphrase: str) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()


def load_root(certificate_pem: str, encrypted_key_pem: str, passphrase: str) -> CertificateAuthorityKeys:
    """Raises ValueError when the passphrase is wrong."""
    key = serialization.load_pem_private_key(encrypted_key_pem.encode(), password=passphrase.encode())
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC key")
    return CertificateAuthorityKeys(x509.load_pem_x509_certificate(certificate_pem.encode()), key)


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def issue_client_certificate(
    authority: CertificateAuthorityKeys,
    *,
    network: str,
    facility_name: str,
    terminal_label: str,
    user_id: str,
    valid_for: dt.timedelta,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new P-256 key and a TLS client certificate naming the network, facility, terminal and user."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, network[:64]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, facility_name[:64]),
            x509.NameAttribute(NameOID.COMMON_NAME, terminal_label[:64]),
            x509.NameAttribute(NameOID.USER_ID, user_id),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    ca_public = authority.certificate.public_key()
    assert isinstance(ca_public, ec.EllipticCurvePublicKey)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(authority.private_key, hashes.SHA256())
    )
    return certificate, key


def pkcs12_bundle(
    authority: CertificateAuthorityKeys,
    certificate: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    *,
    friendly_name: str,
    pin: str,
) -> bytes:
    """Key, certificate and our CA in one PKCS#12 file, encrypted (AES-256, PBKDF2-SHA256) with the PIN."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(pin.encode())
    )
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode(), key, certificate, [authority.certificate], encryption
    )


def build_crl(
    authority: CertificateAuthorityKeys,
    revoked: Iterable[RevokedSerial],
    *,
    crl_number: int,
    valid_for: dt.timedelta,
) -> x509.CertificateRevocationList:
    """The CA-signed list of revoked serials. nginx refuses every client certificate once nextUpdate has
    passed, so whoever publishes it must regenerate it well before ``valid_for`` runs out."""
    now = dt.datetime.now(dt.UTC)
    ca_public = authority.certificate.public_key()
    assert isinstance(ca_public, ec.EllipticCurvePublicKey)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(authority.certificate.subject)
        .last_update(now - BACKDATE)
        .next_update(now + valid_for)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False)
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial_number)
            .revocation_date(entry.revoked_at)
            .add_extension(
                x509.CRLReason(REVOCATION_REASONS.get(entry.reason, x509.ReasonFlags.unspecified)), False
            )
            .build()
        )
    return builder.sign(authority.private_key, hashes.SHA256())


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
