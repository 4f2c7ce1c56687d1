"""Proving who one is: the password with its lockout, and the second factor (TOTP or client certificate)."""

from __future__ import annotations

import asyncio
import hmac
import time
from datetime import UTC, datetime

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from identity import audit_trail
from identity.accounts import repository
from identity.certificates import service as certificates
from identity.models import Facility, Network, User
from identity.networks import repository as networks
from identity.passwords import DUMMY_HASH, verify_password

TOTP_STEP_S = 30


def totp_step_accepted(user: User, code: str) -> int | None:
    """The time step a TOTP code belongs to (one step of clock drift either way), never one already used."""
    if not user.totp_secret:
        return None
    totp = pyotp.TOTP(user.totp_secret)
    current = int(time.time()) // TOTP_STEP_S
    for step in (current - 1, current, current + 1):
        if step > (user.totp_last_step or 0) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def second_factor(
    session: AsyncSession,
    *,
    network: Network,
    user: User,
    totp_code: str | None,
    cert_fingerprint: str | None,
) -> tuple[str, str | None] | None:
    """Which second factor the attempt proved ("certificate" binds the token to its fingerprint), or None."""
    if cert_fingerprint:
        certificate = await certificates.certificate_for_login(
            session, tenant=user.tenant, fingerprint_sha256=cert_fingerprint
        )
        if certificate is not None and certificate.user_id == user.id:
            return "certificate", certificate.fingerprint_sha256
    if totp_code and network.totp_allowed and user.totp_confirmed:
        step = totp_step_accepted(user, totp_code)
        if step is not None:
            user.totp_last_step = step  # a code works once (replay)
            return "totp", None
    if network.password_only_allowed:
        # Only a demo network may switch this on (S1 forbids it for real staff); the default is off.
        return "password", None
    return None


async def holds_own_certificate(session: AsyncSession, *, user: User, cert_fingerprint: str | None) -> bool:
    if not cert_fingerprint:
        return False
    certificate = await certificates.certificate_for_login(
        session, tenant=user.tenant, fingerprint_sha256=cert_fingerprint
    )
    return certificate is not None and certificate.user_id == user.id


async def count_failure(session: AsyncSession, *, network: Network, user: User, reason: str) -> None:
    user.failed_login_count += 1
    await audit_trail.record(
        session,
        "login.failed",
        by=f"login:{user.login_id}",
        on=user,
        detail={"reason": reason, "consecutive_failures": user.failed_login_count},
    )
    if user.locked_at is None and user.failed_login_count >= network.lockout_threshold:
        user.locked_at = datetime.now(UTC)
        await audit_trail.record(
            session,
            "account.locked",
            by="system",
            on=user,
            detail={"consecutive_failures": user.failed_login_count},
        )


async def authenticate_password(
    session: AsyncSession, *, tenant: str, login_id: str, password: str
) -> tuple[Network, User, Facility] | None:
    """Check a password, counting failures towards the lockout; None (audited) when it must be refused."""
    network = await networks.network(session, tenant)
    user = await repository.user_for_update(session, tenant=tenant, login_id=login_id) if network else None
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else DUMMY_HASH, password)
    if network is None or user is None:
        await audit_trail.record(
            session, "login.failed", by=f"login:{login_id}", tenant=tenant, detail={"reason": "unknown"}
        )
        return None
    if user.locked_at is not None:
        await count_failure(session, network=network, user=user, reason="locked")
        return None
    if not ok:
        await count_failure(session, network=network, user=user, reason="password")
        return None
    facility = await session.get(Facility, user.facility_id)
    if user.status != "active" or facility is None or facility.status != "active":
        await audit_trail.record(
            session, "login.failed", by=f"login:{login_id}", on=user, detail={"reason": "inactive"}
        )
        return None
    return network, user, facility
