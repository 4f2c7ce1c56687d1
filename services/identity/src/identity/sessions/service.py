"""Session use cases: password plus second factor opens a session, refresh keeps it, idle and age end it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal
from yui_common.events.identity import SessionRevokedV1
from yui_common.networks import network_suspended
from yui_common.problems import Problem, not_found

from identity import audit_trail, tokens
from identity.accounts.authentication import (
    authenticate_password,
    end_backoff,
    password_expired,
    second_factor,
    second_factor_given,
)
from identity.models import Facility, LoginSession, Network, User
from identity.networks.service import network_of
from identity.revocations import service as revocations
from identity.sessions import repository
from identity.sessions.schemas import SessionRead, SessionTokens
from identity.settings import Settings


def _refresh_digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


async def _access_token(
    session: AsyncSession, *, settings: Settings, network: Network, user: User, login_session: LoginSession
) -> tuple[str, int]:
    ttl = min(settings.access_token_ttl_s, network.session_idle_minutes * 60)
    key = await tokens.current_signing_key(session)
    token = tokens.sign_access_token(
        key,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        user_id=user.id,
        tenant=user.tenant,
        facility_id=user.facility_id,
        roles=list(user.roles),
        name=user.display_name,
        ttl_s=ttl,
        session_id=str(login_session.id),
        cert_fingerprint=login_session.cert_fingerprint,
    )
    return token, ttl


async def login(
    session: AsyncSession,
    *,
    settings: Settings,
    tenant: str,
    login_id: str,
    password: str,
    totp_code: str | None,
    cert_fingerprint: str | None,
    source_address: str | None = None,
    user_agent: str | None = None,
) -> SessionTokens | Problem:
    """Password plus a second factor opens a session. Failures are returned, not raised: raising would roll
    back their audit entries and the throttling counters."""
    suspended = await session.get(Network, tenant)
    if suspended is not None and suspended.status != "active":
        # ten3: the same answer as every service gives the network's tokens (the network's state is public).
        await audit_trail.record(
            session,
            "login.refused",
            by=f"login:{login_id}",
            tenant=tenant,
            detail={"reason": "network-suspended"},
        )
        return network_suspended()
    accepted = await authenticate_password(
        session,
        settings,
        source_address=source_address,
        tenant=tenant,
        login_id=login_id,
        password=password,
        totp_code=totp_code,
        cert_fingerprint=cert_fingerprint,
    )
    if isinstance(accepted, Problem):
        return accepted
    network, user = accepted.network, accepted.user
    if user.must_change_password:
        await audit_trail.record(
            session,
            "login.password-change-required",
            by=str(user.id),
            tenant=tenant,
            facility_id=user.facility_id,
        )
        return Problem(
            403,
            "password-change-required",
            "Choose your own password",
            "This is an initial password: change it (and enrol your second factor) before signing in.",
            reason="initial",
        )
    if password_expired(network, user):
        # Only after the second factor (else a password alone would learn that it is right), which is not
        # spent: the change of password (POST /auth/password) takes the same code while it is current.
        if not await second_factor_given(
            session, network=network, user=user, totp_code=totp_code, cert_fingerprint=cert_fingerprint
        ):
            return await accepted.refuse(session, reason="second-factor")
        await audit_trail.record(
            session,
            "login.password-change-required",
            by=str(user.id),
            tenant=tenant,
            facility_id=user.facility_id,
            detail={"reason": "expired", "max_age_days": network.password_max_age_days},
        )
        return Problem(
            403,
            "password-change-required",
            "Choose a new password",
            f"This network asks for a new password every {network.password_max_age_days} days: change it "
            "(POST /auth/password with your current password and second factor) before signing in.",
            reason="expired",
        )
    factor = await second_factor(
        session, network=network, user=user, totp_code=totp_code, cert_fingerprint=cert_fingerprint
    )
    if factor is None:
        return await accepted.refuse(session, reason="second-factor")
    proved, bound_fingerprint = factor
    await end_backoff(session, user=user)
    now = datetime.now(UTC)
    refresh_token = secrets.token_urlsafe(32)
    login_session = LoginSession(
        tenant=tenant,
        user_id=user.id,
        refresh_token_hash=_refresh_digest(refresh_token),
        second_factor=proved,
        cert_fingerprint=bound_fingerprint,
        user_agent=(user_agent or "")[:300] or None,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=network.session_absolute_hours),
    )
    session.add(login_session)
    await session.flush()
    token, ttl = await _access_token(
        session, settings=settings, network=network, user=user, login_session=login_session
    )
    await audit_trail.record(
        session,
        "login.succeeded",
        by=str(user.id),
        tenant=tenant,
        facility_id=user.facility_id,
        target=f"session:{login_session.id}",
        detail={"second_factor": proved},
    )
    return SessionTokens(
        access_token=token, expires_in=ttl, refresh_token=refresh_token, session_id=login_session.id
    )


async def end_session(
    session: AsyncSession, login_session: LoginSession, *, reason: str, actor_id: str, awaited: bool = False
) -> None:
    """End a session: its tokens are refused by identity at once and by the other services once they hold
    the event; ``awaited`` when the request that ends it waits for them (a logout, not a suspension's
    sessions: the suspension itself is awaited, and refuses every token of the user)."""
    if login_session.ended_at is not None:
        return
    login_session.ended_at = datetime.now(UTC)
    login_session.end_reason = reason
    await audit_trail.record(
        session,
        "session.ended",
        by=actor_id,
        tenant=login_session.tenant,
        target=f"session:{login_session.id}",
        detail={"reason": reason},
    )
    revoked = SessionRevokedV1(
        session_id=login_session.id,
        user_id=login_session.user_id,
        reason=reason,
        revoked_at=login_session.ended_at,
    )
    if awaited:
        await revocations.revoke_everywhere(
            session, revoked, tenant=login_session.tenant, reason=f"session-{reason}", requested_by=actor_id
        )
    else:
        await revocations.announce(session, revoked, tenant=login_session.tenant)


async def end_sessions_of(session: AsyncSession, *, user_id: UUID, reason: str, actor_id: str) -> None:
    for login_session in await repository.open_sessions_of_user(session, user_id=user_id):
        await end_session(session, login_session, reason=reason, actor_id=actor_id)


async def refresh(
    session: AsyncSession, *, settings: Settings, refresh_token: str
) -> SessionTokens | Problem:
    """A new access token for a live session; the idle and absolute limits end it (returned: it commits)."""
    ended = Problem(401, "session-ended", "Session ended", "Sign in again.")
    login_session = await repository.session_by_refresh_hash(
        session, refresh_token_hash=_refresh_digest(refresh_token)
    )
    if login_session is None or login_session.ended_at is not None:
        return ended
    network = await network_of(session, login_session.tenant)
    if network.status != "active":  # suspended, or ending and ended after it
        return network_suspended()  # the session is kept: resuming the network brings it back
    user = await session.get(User, login_session.user_id)
    facility = await session.get(Facility, user.facility_id) if user else None
    now = datetime.now(UTC)
    reason = None
    if now >= login_session.expires_at:
        reason = "absolute-limit"
    elif now - login_session.last_seen_at > timedelta(minutes=network.session_idle_minutes):
        reason = "idle"
    elif user is None or user.status != "active" or facility is None or facility.status != "active":
        reason = "account-inactive"
    if reason:
        await end_session(session, login_session, reason=reason, actor_id="system")
        return ended
    assert user is not None
    login_session.last_seen_at = now
    new_refresh_token = secrets.token_urlsafe(32)
    login_session.refresh_token_hash = _refresh_digest(new_refresh_token)  # rotated: a stolen copy goes stale
    token, ttl = await _access_token(
        session, settings=settings, network=network, user=user, login_session=login_session
    )
    return SessionTokens(
        access_token=token, expires_in=ttl, refresh_token=new_refresh_token, session_id=login_session.id
    )


async def list_sessions(session: AsyncSession, *, principal: Principal) -> list[SessionRead]:
    rows = await repository.sessions_of_user(session, tenant=principal.tenant, user_id=principal.user_id)
    return [
        SessionRead.model_validate(
            {
                **{c: getattr(r, c) for c in SessionRead.model_fields if c != "current"},
                "current": str(r.id) == principal.session_id,
            }
        )
        for r in rows
    ]


async def end_own_session(
    session: AsyncSession, *, principal: Principal, session_id: UUID, reason: str
) -> None:
    login_session = await session.get(LoginSession, session_id, with_for_update=True)
    # The network too: a user id is the same in no two networks, but a token's claims are checked as a pair.
    if (
        login_session is None
        or login_session.user_id != principal.user_id
        or login_session.tenant != principal.tenant
    ):
        raise not_found("session")
    await end_session(session, login_session, reason=reason, actor_id=str(principal.user_id), awaited=True)
