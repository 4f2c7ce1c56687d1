"""The service's audit key: an Ed25519 key in a PEM file that signs seal heads, and checking what it signed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from yui_common.settings import CommonSettings


class AuditPublicKey:
    """What a verifier needs: checks that a seal head was signed by the service's audit key."""

    def __init__(self, key: Ed25519PublicKey) -> None:
        self.key = key
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        # Names the key in every seal, so a rotated key's seals still say which key signed them.
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    def verify(self, message: bytes, signature: str) -> bool:
        try:
            self.key.verify(bytes.fromhex(signature), message)
        except (InvalidSignature, ValueError):
            return False
        return True


class AuditKey:
    """The signing half, held by the service's worker only (never in its database)."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.public = AuditPublicKey(key.public_key())

    @property
    def key_id(self) -> str:
        return self.public.key_id

    @classmethod
    def from_file(cls, path: str | Path) -> AuditKey:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(key)

    def sign(self, message: bytes) -> str:
        return self.key.sign(message).hex()


def ensure_audit_key(path: str | Path) -> Path:
    """Create an Ed25519 key at ``path`` (mode 0600) unless one is there; for `make run` and the test stack."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
    return path


def audit_key(settings: CommonSettings) -> AuditKey | None:
    """The key the settings name, or None when none is configured (sealing is then off)."""
    return AuditKey.from_file(settings.audit_key_file) if settings.audit_key_file else None
