"""Signing-key use cases: rotate to a new key, retire an old one. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.identity import SigningKeyRotatedV1
from yui_common.problems import conflict, not_found

from identity import audit_trail, tokens
from identity.auth import CONTRACTOR, OPERATOR, require_role
from identity.signing_keys import repository


async def rotate_signing_key(session: AsyncSession, *, principal: Principal) -> str:
    """A new key signs from now on; the old ones still verify (JWKS serves them) until retired."""
    require_role(principal, OPERATOR, CONTRACTOR)
    await tokens.current_signing_key(session)  # the first key exists before a second one is added
    key = tokens.new_signing_key()
    key.created_at = datetime.now(UTC)
    session.add(key)
    await session.flush()
    await audit_trail.record(session, "signing-key.rotated", by=principal, target=f"kid:{key.kid}")
    await outbox.add_event(session, SigningKeyRotatedV1(kid=key.kid), tenant=principal.tenant)
    return key.kid


async def retire_signing_key(session: AsyncSession, *, principal: Principal, kid: str) -> None:
    require_role(principal, OPERATOR, CONTRACTOR)
    keys = await repository.active_signing_keys(session)
    if kid not in {k.kid for k in keys}:
        raise not_found("signing key")
    if keys[0].kid == kid:
        raise conflict("The key that signs now cannot be retired; rotate first.")
    next(k for k in keys if k.kid == kid).retired_at = datetime.now(UTC)
    await audit_trail.record(session, "signing-key.retired", by=principal, target=f"kid:{kid}")
