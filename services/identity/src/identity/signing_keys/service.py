"""Signing-key use cases: rotate to a new key, retire an old one. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.identity import SigningKeyRotatedV1
from yui_common.problems import Problem, conflict, not_found

from identity import audit_trail, tokens
from identity.auth import CONTRACTOR
from identity.problems import forbidden
from identity.signing_keys import repository

# The keys sign every network's tokens: they belong to the whole deployment, so only the contractor who runs
# it may change them (issue 14, finding 1). A network's operator runs one network and must not reach the keys
# that sign the others' tokens.
KEYS_REFUSED_DETAIL = "Only the contractor may rotate or retire the keys that sign every network's tokens."


async def _refused(session: AsyncSession, principal: Principal, action: str, target: str | None) -> Problem:
    """The refusal is returned, not raised, so its audit entry commits: an attempt on the deployment's keys
    is worth knowing about."""
    await audit_trail.record(
        session,
        f"signing-key.{action}-refused",
        by=principal,
        target=target,
        detail={"reason": "not-contractor"},
    )
    return forbidden(KEYS_REFUSED_DETAIL)


async def rotate_signing_key(session: AsyncSession, *, principal: Principal) -> str | Problem:
    """A new key signs from now on; the old ones still verify (JWKS serves them) until retired."""
    if not principal.has_role(CONTRACTOR):
        return await _refused(session, principal, "rotation", None)
    await tokens.current_signing_key(session)  # the first key exists before a second one is added
    key = tokens.new_signing_key()
    key.created_at = datetime.now(UTC)
    session.add(key)
    await session.flush()
    await audit_trail.record(session, "signing-key.rotated", by=principal, target=f"kid:{key.kid}")
    await outbox.add_event(session, SigningKeyRotatedV1(kid=key.kid), tenant=principal.tenant)
    return key.kid


async def retire_signing_key(session: AsyncSession, *, principal: Principal, kid: str) -> Problem | None:
    """The key no longer verifies. Refused before the kid is looked at, so a refusal says nothing of it."""
    if not principal.has_role(CONTRACTOR):
        return await _refused(session, principal, "retirement", f"kid:{kid}")
    keys = await repository.active_signing_keys(session)
    if kid not in {k.kid for k in keys}:
        raise not_found("signing key")
    if keys[0].kid == kid:
        raise conflict("The key that signs now cannot be retired; rotate first.")
    next(k for k in keys if k.kid == kid).retired_at = datetime.now(UTC)
    await audit_trail.record(session, "signing-key.retired", by=principal, target=f"kid:{kid}")
    return None
