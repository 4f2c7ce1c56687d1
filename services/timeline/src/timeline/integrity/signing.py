"""The service's Ed25519 signature over (content hash, author, time) of post versions and files (T5)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from timeline.settings import Settings


def canonical_sha256(content: dict[str, Any]) -> str:
    """SHA-256 of the content as canonical JSON (sorted keys, UTF-8): the same content always hashes alike."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _signed_message(content_sha256: str, author_id: UUID, at: datetime) -> bytes:
    return json.dumps(
        {
            "content_sha256": content_sha256,
            "author": str(author_id),
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


class ContentSigner:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()

    def sign(self, content_sha256: str, author_id: UUID, at: datetime) -> str:
        return base64.b64encode(
            self._private_key.sign(_signed_message(content_sha256, author_id, at))
        ).decode()

    def verify(self, signature: str, content_sha256: str, author_id: UUID, at: datetime) -> bool:
        try:
            self.public_key.verify(
                base64.b64decode(signature), _signed_message(content_sha256, author_id, at)
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def public_key_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def _load_or_create(settings: Settings) -> Ed25519PrivateKey:
    if settings.signing_key_pem is not None:
        pem = settings.signing_key_pem.get_secret_value().encode()
    elif settings.signing_key_file.exists():
        pem = settings.signing_key_file.read_bytes()
    elif settings.signing_key_create_if_missing:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        settings.signing_key_file.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: when two processes start together, one creates the key and the other reads it.
        try:
            fd = os.open(settings.signing_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pem = settings.signing_key_file.read_bytes()
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    else:
        raise RuntimeError(
            f"timeline signing key missing: set YUI_TIMELINE_SIGNING_KEY_FILE ({settings.signing_key_file})"
        )
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise RuntimeError("the timeline signing key must be an Ed25519 private key")
    return loaded


@lru_cache(maxsize=8)
def _signer_for(file: str, pem: str | None, create: bool) -> ContentSigner:
    settings = Settings(signing_key_file=file, signing_key_pem=pem, signing_key_create_if_missing=create)
    return ContentSigner(_load_or_create(settings))


def signer_for(settings: Settings) -> ContentSigner:
    pem = settings.signing_key_pem.get_secret_value() if settings.signing_key_pem else None
    return _signer_for(str(settings.signing_key_file.resolve()), pem, settings.signing_key_create_if_missing)
