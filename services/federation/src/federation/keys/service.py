"""Key lifecycle: the active key signs; a rotation publishes the next key ahead of use; a retired key keeps
verifying for the whole retry window (`retiring`), then leaves the JWKS (`removed`). Never commits.

Kept like identity's token keys (identity.tokens): the private key as PKCS#8 PEM in this service's own database,
which only this service reads and which the backup covers. A kid is a UUIDv7 and rows are never deleted, so no
kid is ever issued twice.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7

from federation.models import FederationKey
from federation.settings import Settings

NEXT, ACTIVE, RETIRING, REMOVED = "next", "active", "retiring", "removed"
PUBLISHED = (NEXT, ACTIVE, RETIRING)
# Serialises key changes of all replicas (a transaction-scoped advisory lock).
_KEY_LOCK = 7975690106


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey


def private_key(key: FederationKey) -> Ed25519PrivateKey:
    loaded = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    return loaded


def public_jwk(key: FederationKey) -> dict[str, str]:
    raw = (
        private_key(key).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64(raw),
        "kid": key.kid,
        "alg": "EdDSA",
        "use": "sig",
        # Not a registered JWK member: peers read it to see which key signs now and which are on their way.
        "yui_state": key.state,
    }


def _new_key(state: str, *, activate_at: datetime | None) -> FederationKey:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    now = datetime.now(UTC)
    return FederationKey(
        kid=str(uuid7()),
        private_pem=pem.decode(),
        state=state,
        created_at=now,
        activate_at=activate_at,
        activated_at=now if state == ACTIVE else None,
    )


async def _keys(session: AsyncSession, *states: str) -> list[FederationKey]:
    found = await session.scalars(
        sa.select(FederationKey)
        .where(FederationKey.state.in_(states))
        .order_by(FederationKey.created_at.desc())
    )
    return list(found)


async def advance(session: AsyncSession, settings: Settings, *, now: datetime | None = None) -> bool:
    """Move the keys along their lifecycle as time has passed: a due `next` key becomes `active` (the previous
    active one `retiring`), and a key retiring for longer than the retry window is `removed`. Returns whether
    anything changed. Called before signing, when the JWKS is served and by the worker."""
    now = now or datetime.now(UTC)
    due = [k for k in await _keys(session, NEXT) if k.activate_at is not None and k.activate_at <= now]
    window = timedelta(seconds=settings.key_retry_window_s)
    expired = [
        k
        for k in await _keys(session, RETIRING)
        if k.retiring_since is not None and k.retiring_since + window <= now
    ]
    if not due and not expired:
        return False
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _KEY_LOCK})
    changed = False
    for key in await _keys(session, NEXT):
        if key.activate_at is not None and key.activate_at <= now:
            for active in await _keys(session, ACTIVE):
                active.state, active.retiring_since = RETIRING, now
            key.state, key.activated_at = ACTIVE, now
            changed = True
    for key in await _keys(session, RETIRING):
        if key.retiring_since is not None and key.retiring_since + window <= now:
            key.state, key.removed_at = REMOVED, now
            changed = True
    await session.flush()
    return changed


async def active_key(session: AsyncSession, settings: Settings) -> SigningKey:
    """The key that signs now; the first call on an empty database makes one (under the lock)."""
    await advance(session, settings)
    found = await _keys(session, ACTIVE)
    if not found:
        await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _KEY_LOCK})
        found = await _keys(session, ACTIVE)
        if not found:
            key = _new_key(ACTIVE, activate_at=None)
            session.add(key)
            await session.flush()
            found = [key]
    return SigningKey(found[0].kid, private_key(found[0]))


_SIGNING_CACHE_S = 5.0
_signing: tuple[float, SigningKey] | None = None


async def signing_key(session: AsyncSession, settings: Settings) -> SigningKey:
    """The active key, read at most every few seconds: for the tokens a staff member's read makes (the
    assertion, the grant), where three queries and a PEM parse per request would cost more than the signature.
    A key that becomes active meanwhile is used a few seconds later; the one it replaces stays published (and
    valid) for the whole retry window, so nothing signed with it in those seconds is refused."""
    global _signing
    now = time.monotonic()
    if _signing is None or now - _signing[0] > _SIGNING_CACHE_S:
        _signing = (now, await active_key(session, settings))
    return _signing[1]


async def published_jwks(session: AsyncSession, settings: Settings) -> list[dict[str, str]]:
    """Every key a peer may meet on a message: next (soon), active, and retiring (still in flight)."""
    await active_key(session, settings)
    return [public_jwk(k) for k in await _keys(session, *PUBLISHED)]


async def rotate(
    session: AsyncSession, settings: Settings, *, publish_ahead_s: float | None = None
) -> FederationKey:
    """Publish a new key that signs from `publish_ahead_s` on (the setting by default; 0 = at once). A second
    rotation while one is pending replaces nothing: the pending key is returned."""
    await active_key(session, settings)
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _KEY_LOCK})
    pending = await _keys(session, NEXT)
    ahead = settings.key_publish_ahead_s if publish_ahead_s is None else publish_ahead_s
    activate_at = datetime.now(UTC) + timedelta(seconds=max(0.0, ahead))
    if pending:
        key = pending[0]
        key.activate_at = min(key.activate_at or activate_at, activate_at)
    else:
        key = _new_key(NEXT, activate_at=activate_at)
        session.add(key)
    await session.flush()
    if ahead <= 0:
        await advance(session, settings)
    return key


async def key_states(session: AsyncSession) -> list[FederationKey]:
    return await _keys(session, NEXT, ACTIVE, RETIRING, REMOVED)


def public_key_pem(key: FederationKey) -> str:
    return (
        private_key(key)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def jwk_members(jwk: dict[str, Any]) -> dict[str, Any]:
    """The members PyJWT needs to load a published key (our own state member left out)."""
    return {k: v for k, v in jwk.items() if k != "yui_state"}
