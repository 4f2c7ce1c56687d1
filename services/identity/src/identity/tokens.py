"""Signing access tokens with Ed25519 (EdDSA) and publishing the public keys as a JWKS."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import SigningKey
from identity.signing_keys import repository


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: SigningKey) -> dict[str, str]:
    private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw), "kid": key.kid, "alg": "EdDSA", "use": "sig"}


def new_signing_key() -> SigningKey:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SigningKey(kid=hashlib.sha256(raw).hexdigest()[:16], private_pem=pem)


async def current_signing_key(session: AsyncSession) -> SigningKey:
    """The newest active key; the first call on an empty database creates one (under a lock)."""
    keys = await repository.active_signing_keys(session)
    if keys:
        return keys[0]
    await session.execute(text("SELECT pg_advisory_xact_lock(7975690001)"))
    keys = await repository.active_signing_keys(session)
    if keys:
        return keys[0]
    key = new_signing_key()
    session.add(key)
    await session.flush()
    return key


async def jwks(session: AsyncSession) -> dict[str, Any]:
    keys = await repository.active_signing_keys(session)
    if not keys:
        keys = [await current_signing_key(session)]
    return {"keys": [public_jwk(k) for k in keys]}


def sign_access_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    user_id: UUID,
    tenant: str,
    facility_id: UUID | None,
    roles: list[str],
    name: str,
    ttl_s: int,
    session_id: str | None = None,
    cert_fingerprint: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": str(user_id),
        "tenant": tenant,
        "facility": str(facility_id) if facility_id else None,
        "roles": roles,
        "name": name,
        "iat": now,
        "exp": now + ttl_s,
    }
    if session_id:
        claims["sid"] = session_id
    if cert_fingerprint:
        claims["cnf"] = {"x5t#S256": cert_fingerprint}
    private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": key.kid})  # type: ignore[arg-type]
