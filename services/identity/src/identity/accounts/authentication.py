"""Proving who one is: the password with its throttling (a timed backoff per login ID that a second factor
passes, a failure limit per client address or IPv6 /64), and the second factor (TOTP or client certificate)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import outbox
from yui_common.auth import came_through_gateway
from yui_common.events.identity import SignInBackoffStartedV1

from identity import audit_trail
from identity.accounts import repository
from identity.certificates import service as certificates
from identity.models import Facility, Network, User
from identity.networks import repository as networks
from identity.passwords import DUMMY_HASH, verify_password
from identity.problems import SignInRefused
from identity.settings import Settings

TOTP_STEP_S = 30
# The threshold for a network that does not exist (the column's default): its login IDs wait like any other.
DEFAULT_LOCKOUT_THRESHOLD = 5
# A login ID's failures are forgotten once nobody has tried it for this long and its wait is over.
BACKOFF_MEMORY = timedelta(days=1)


def source_address_of(request: Request) -> str | None:
    """The client address as the gateway reports it, for the per-address limit; None for a caller inside.

    The gateway replaces X-Forwarded-For with the address it saw (so there is one, and a client cannot choose
    it) and proves itself with its shared secret; the header is believed only beside that secret, as the
    certificate headers are. A request without both came from inside the deployment (a service, a job, a
    test): it has no client address to count, and its login IDs still meet their backoff. The portal's sign-in
    page counts by the browser's address once the portal forwards X-Forwarded-For with the secret.
    """
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded or not came_through_gateway(request):
        return None
    return counted_address(forwarded.rsplit(",", 1)[-1].strip())


def counted_address(address: str) -> str | None:
    """What the per-address limit counts: an IPv4 address, or an IPv6 address's /64.

    One IPv6 subscriber usually holds a whole /64 and can take a new address from it for every attempt, so
    counting single IPv6 addresses would count nothing.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:45] or None
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


@dataclass(frozen=True)
class SignInAttempt:
    """Where a sign-in attempt comes from (source_address_of) and the limits it meets."""

    source_address: str | None
    backoff_cap_s: int
    address_failure_limit: int
    address_window_s: int

    @classmethod
    def from_settings(cls, settings: Settings, *, source_address: str | None) -> SignInAttempt:
        return cls(
            source_address=source_address,
            backoff_cap_s=settings.sign_in_backoff_cap_s,
            address_failure_limit=settings.sign_in_address_failure_limit,
            address_window_s=settings.sign_in_address_window_s,
        )

    def window_start(self, now: datetime) -> datetime:
        epoch = int(now.timestamp())
        return datetime.fromtimestamp(epoch - epoch % self.address_window_s, UTC)

    def backoff_delay(self, consecutive_failures: int, threshold: int) -> timedelta | None:
        """None below the threshold; from it on 2, 4, 8 … seconds, never more than the cap."""
        if consecutive_failures < threshold:
            return None
        exponent = min(consecutive_failures - threshold + 1, 30)  # 2**30 s is past any cap
        return timedelta(seconds=min(2**exponent, self.backoff_cap_s))


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


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
    # A password alone: only on a network the demo seed created (a CHECK keeps it there), and never for
    # someone who confirmed a TOTP: what they enrolled must be given (a wrong, used or missing code fails).
    if network.password_only_allowed and network.created_as_demo and not user.totp_confirmed:
        return "password", None
    return None


def password_expired(network: Network, user: User, now: datetime | None = None) -> bool:
    """I4: the network asks for a periodic change and the user's password is older than it allows (a password
    never changed counts from the account's creation)."""
    if network.password_max_age_days is None:
        return False
    changed = user.password_changed_at or user.created_at
    if changed is None:
        return False
    return changed < (now or datetime.now(UTC)) - timedelta(days=network.password_max_age_days)


async def second_factor_given(
    session: AsyncSession,
    *,
    network: Network,
    user: User,
    totp_code: str | None,
    cert_fingerprint: str | None,
) -> bool:
    """Whether the attempt brings what second_factor would accept, without spending the TOTP code: an expired
    password is refused before a session opens, and the same code then confirms the password change."""
    if await proves_more_than_password(
        session, network=network, user=user, totp_code=totp_code, cert_fingerprint=cert_fingerprint
    ):
        return True
    return network.password_only_allowed and network.created_as_demo and not user.totp_confirmed


async def holds_own_certificate(session: AsyncSession, *, user: User, cert_fingerprint: str | None) -> bool:
    if not cert_fingerprint:
        return False
    certificate = await certificates.certificate_for_login(
        session, tenant=user.tenant, fingerprint_sha256=cert_fingerprint
    )
    return certificate is not None and certificate.user_id == user.id


async def proves_more_than_password(
    session: AsyncSession,
    *,
    network: Network | None,
    user: User | None,
    totp_code: str | None,
    cert_fingerprint: str | None,
) -> bool:
    """Whether the attempt holds the user's own certificate or a TOTP code of theirs that is still unused.

    Nothing is spent here (second_factor spends the code once the password has passed): this only decides
    whether the login ID's wait applies. The wait is there against guessing passwords; whoever holds the
    second factor is not guessing, and letting them through is what keeps an attacker's wrong guesses from
    locking the account's owner out for good.
    """
    if network is None or user is None:
        return False
    if await holds_own_certificate(session, user=user, cert_fingerprint=cert_fingerprint):
        return True
    return bool(
        totp_code
        and network.totp_allowed
        and user.totp_confirmed
        and totp_step_accepted(user, totp_code) is not None
    )


async def _count_address_failure(session: AsyncSession, *, attempt: SignInAttempt, now: datetime) -> None:
    """One more failure against the attempt's address in its current window (none for a caller inside)."""
    if attempt.source_address:
        await repository.count_address_failure(
            session,
            address=attempt.source_address,
            window_start=attempt.window_start(now),
            window=timedelta(seconds=attempt.address_window_s),
        )


async def count_failure(
    session: AsyncSession,
    *,
    attempt: SignInAttempt,
    tenant: str,
    login_id: str,
    network: Network | None,
    user: User | None,
    reason: str,
) -> SignInRefused:
    """Count a failed attempt against its login ID and its address; the refusal to answer with (audited).

    From the network's threshold on, the login ID's next attempt waits (Retry-After), whether or not an
    account has that ID, so the answer never tells which exist. The account's user is told once per series.
    """
    now = datetime.now(UTC)
    await _count_address_failure(session, attempt=attempt, now=now)
    backoff = await repository.count_backoff_failure(session, tenant=tenant, login_id=login_id, at=now)
    threshold = network.lockout_threshold if network is not None else DEFAULT_LOCKOUT_THRESHOLD
    delay = attempt.backoff_delay(backoff.consecutive_failures, threshold)
    backoff.blocked_until = now + delay if delay else None
    detail = {"reason": reason, "consecutive_failures": backoff.consecutive_failures}
    if user is not None:
        await audit_trail.record(session, "login.failed", by=f"login:{login_id}", on=user, detail=detail)
    else:
        await audit_trail.record(
            session, "login.failed", by=f"login:{login_id}", tenant=tenant, detail=detail
        )
    if delay is None:
        return SignInRefused()
    if user is not None and user.locked_at is None:
        user.locked_at = now
        await audit_trail.record(
            session,
            "account.backoff-started",
            by="system",
            on=user,
            detail={"consecutive_failures": backoff.consecutive_failures},
        )
        await outbox.add_event(
            session,
            SignInBackoffStartedV1(
                user_id=user.id,
                facility_id=user.facility_id,
                consecutive_failures=backoff.consecutive_failures,
                blocked_until=now + delay,
            ),
            tenant=user.tenant,
        )
    await repository.forget_old_backoffs(session, before=now - BACKOFF_MEMORY)
    return SignInRefused(retry_after_s=_seconds_until(now + delay, now))


@dataclass(frozen=True)
class PasswordAccepted:
    """A password that passed authenticate_password: whose it is, and the attempt that a failure after it (the
    second factor, a TOTP enrolment's code) still counts against."""

    attempt: SignInAttempt
    tenant: str
    login_id: str
    network: Network
    user: User

    async def refuse(self, session: AsyncSession, *, reason: str) -> SignInRefused:
        """Count the failure after the password (count_failure) and answer with its refusal."""
        return await count_failure(
            session,
            attempt=self.attempt,
            tenant=self.tenant,
            login_id=self.login_id,
            network=self.network,
            user=self.user,
            reason=reason,
        )


async def end_backoff(session: AsyncSession, *, user: User) -> None:
    """A successful sign-in, a new password or an administrator's unlock ends the login ID's failures."""
    await repository.clear_backoff(session, tenant=user.tenant, login_id=user.login_id)
    user.locked_at = None


async def authenticate_password(
    session: AsyncSession,
    settings: Settings,
    *,
    source_address: str | None,
    tenant: str,
    login_id: str,
    password: str,
    totp_code: str | None = None,
    cert_fingerprint: str | None = None,
) -> PasswordAccepted | SignInRefused:
    """Check a password within the throttling (source_address_of gives the address); the refusal (audited,
    counted) when it must be refused.

    An address over its limit is refused before the password is checked, even the right one: that is what
    stops guessing, and it spends no argon2 time on an attacker. A login ID in its backoff is refused the
    same way, unless the attempt also brings the user's second factor (proves_more_than_password): else
    anyone could keep a known login ID waiting for good with one wrong guess per wait. The second factor
    itself is still checked and spent by the caller (second_factor).
    """
    attempt = SignInAttempt.from_settings(settings, source_address=source_address)
    now = datetime.now(UTC)
    if attempt.source_address:
        window_start = attempt.window_start(now)
        failures = await repository.address_failures(
            session,
            address=attempt.source_address,
            window_start=window_start,
            window=timedelta(seconds=attempt.address_window_s),
        )
        if failures >= attempt.address_failure_limit:
            await audit_trail.record(
                session,
                "login.refused",
                by=f"login:{login_id}",
                tenant=tenant,
                detail={"reason": "address-limit", "address": attempt.source_address},
            )
            window_end = window_start + timedelta(seconds=attempt.address_window_s)
            return SignInRefused(retry_after_s=_seconds_until(window_end, now))
    network = await networks.network(session, tenant)
    user = await repository.user_for_update(session, tenant=tenant, login_id=login_id) if network else None
    backoff = await repository.backoff_for_update(session, tenant=tenant, login_id=login_id)
    if (
        backoff is not None
        and backoff.blocked_until is not None
        and backoff.blocked_until > now
        and not await proves_more_than_password(
            session, network=network, user=user, totp_code=totp_code, cert_fingerprint=cert_fingerprint
        )
    ):
        # Refused without counting another consecutive failure: trying during the wait does not lengthen it.
        await _count_address_failure(session, attempt=attempt, now=now)
        detail = {"reason": "backoff", "blocked_until": backoff.blocked_until.isoformat()}
        if user is not None:
            await audit_trail.record(session, "login.refused", by=f"login:{login_id}", on=user, detail=detail)
        else:
            await audit_trail.record(
                session, "login.refused", by=f"login:{login_id}", tenant=tenant, detail=detail
            )
        return SignInRefused(retry_after_s=_seconds_until(backoff.blocked_until, now))
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else DUMMY_HASH, password)
    if network is None or user is None or not ok:
        return await count_failure(
            session,
            attempt=attempt,
            tenant=tenant,
            login_id=login_id,
            network=network,
            user=user,
            reason="password" if user is not None else "unknown",
        )
    facility = await session.get(Facility, user.facility_id)
    if user.status != "active" or facility is None or facility.status != "active":
        await audit_trail.record(
            session, "login.failed", by=f"login:{login_id}", on=user, detail={"reason": "inactive"}
        )
        return SignInRefused()
    return PasswordAccepted(attempt=attempt, tenant=tenant, login_id=login_id, network=network, user=user)
