"""Identity use cases: login, sessions, facilities, staff, suspensions, incident reports. Never commits."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pyotp
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.auth import Principal
from yui_common.events.identity import (
    FacilityApplicationDecidedV1,
    FacilityAppliedV1,
    FacilityApprovedV1,
    FacilityDisabledV1,
    FacilityReinstatedV1,
    FacilityRejectedV1,
    FacilityWithdrawnV1,
    SessionRevokedV1,
    SigningKeyRotatedV1,
    UserCreatedV1,
    UserDisabledV1,
    UserReinstatedV1,
    UserSuspendedV1,
)
from yui_common.problems import Problem, conflict, not_found

from identity import certificates, directory, repository, schemas, tokens
from identity.models import Facility, IncidentReport, LoginSession, Network, Suspension, User
from identity.passwords import (
    DUMMY_HASH,
    hash_password,
    initial_password,
    password_rule_violations,
    reuses_a_recent_password,
    verify_password,
)
from identity.settings import Settings

OPERATOR, CONTRACTOR, FACILITY_ADMIN, STAFF = "operator", "contractor", "facility_admin", "staff"
TOTP_STEP_S = 30


def _now() -> datetime:
    return datetime.now(UTC)


def login_failed() -> Problem:
    # One answer for a wrong password, an unknown login, a locked or suspended account and a wrong second
    # factor, so the answer never tells which logins exist or which passwords are right.
    return Problem(401, "login-failed", "Login failed", "The login id, password or second factor is wrong.")


def _forbidden(detail: str = "Your role may not do this.") -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


def _require_role(principal: Principal, *roles: str) -> None:
    if not any(principal.has_role(role) for role in roles):
        raise _forbidden()


def _manages_network(principal: Principal) -> bool:
    return principal.has_role(OPERATOR) or principal.has_role(CONTRACTOR)


async def _network_of(session: AsyncSession, tenant: str) -> Network:
    network = await repository.network(session, tenant)
    if network is None:
        raise not_found("network")
    return network


# --- login, second factor, sessions (S1, i11, i12) ----------------------------------------------------------


def _totp_step_accepted(user: User, code: str) -> int | None:
    """The time step a TOTP code belongs to (one step of clock drift either way), never one already used."""
    if not user.totp_secret:
        return None
    totp = pyotp.TOTP(user.totp_secret)
    current = int(time.time()) // TOTP_STEP_S
    for step in (current - 1, current, current + 1):
        if step > (user.totp_last_step or 0) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def _second_factor(
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
        step = _totp_step_accepted(user, totp_code)
        if step is not None:
            user.totp_last_step = step  # a code works once (replay)
            return "totp", None
    if network.password_only_allowed:
        # Only a demo network may switch this on (S1 forbids it for real staff); the default is off.
        return "password", None
    return None


async def _holds_own_certificate(session: AsyncSession, *, user: User, cert_fingerprint: str | None) -> bool:
    if not cert_fingerprint:
        return False
    certificate = await certificates.certificate_for_login(
        session, tenant=user.tenant, fingerprint_sha256=cert_fingerprint
    )
    return certificate is not None and certificate.user_id == user.id


async def _count_failure(session: AsyncSession, *, network: Network, user: User, reason: str) -> None:
    user.failed_login_count += 1
    await audit.record(
        session,
        tenant=user.tenant,
        actor_id=f"login:{user.login_id}",
        facility_id=str(user.facility_id),
        action="login.failed",
        target=f"user:{user.id}",
        detail={"reason": reason, "consecutive_failures": user.failed_login_count},
    )
    if user.locked_at is None and user.failed_login_count >= network.lockout_threshold:
        user.locked_at = _now()
        await audit.record(
            session,
            tenant=user.tenant,
            actor_id="system",
            facility_id=str(user.facility_id),
            action="account.locked",
            target=f"user:{user.id}",
            detail={"consecutive_failures": user.failed_login_count},
        )


async def _authenticate_password(
    session: AsyncSession, *, tenant: str, login_id: str, password: str
) -> tuple[Network, User, Facility] | None:
    """Check a password, counting failures towards the lockout; None (audited) when it must be refused."""
    network = await repository.network(session, tenant)
    user = await repository.user_for_update(session, tenant=tenant, login_id=login_id) if network else None
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else DUMMY_HASH, password)
    if network is None or user is None:
        await audit.record(
            session,
            tenant=tenant,
            actor_id=f"login:{login_id}",
            action="login.failed",
            detail={"reason": "unknown"},
        )
        return None
    if user.locked_at is not None:
        await _count_failure(session, network=network, user=user, reason="locked")
        return None
    if not ok:
        await _count_failure(session, network=network, user=user, reason="password")
        return None
    facility = await session.get(Facility, user.facility_id)
    if user.status != "active" or facility is None or facility.status != "active":
        await audit.record(
            session,
            tenant=tenant,
            actor_id=f"login:{login_id}",
            facility_id=str(user.facility_id),
            action="login.failed",
            target=f"user:{user.id}",
            detail={"reason": "inactive"},
        )
        return None
    return network, user, facility


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
    user_agent: str | None = None,
) -> schemas.SessionTokens | Problem:
    """Password plus a second factor opens a session. Failures are returned, not raised: raising would roll
    back their audit entries and the lockout counter."""
    authenticated = await _authenticate_password(session, tenant=tenant, login_id=login_id, password=password)
    if authenticated is None:
        return login_failed()
    network, user, _ = authenticated
    if user.must_change_password:
        await audit.record(
            session,
            tenant=tenant,
            actor_id=str(user.id),
            facility_id=str(user.facility_id),
            action="login.password-change-required",
        )
        return Problem(
            403,
            "password-change-required",
            "Choose your own password",
            "This is an initial password: change it (and enrol your second factor) before signing in.",
        )
    factor = await _second_factor(
        session, network=network, user=user, totp_code=totp_code, cert_fingerprint=cert_fingerprint
    )
    if factor is None:
        await _count_failure(session, network=network, user=user, reason="second-factor")
        return login_failed()
    second_factor, bound_fingerprint = factor
    user.failed_login_count = 0
    now = _now()
    refresh_token = secrets.token_urlsafe(32)
    login_session = LoginSession(
        tenant=tenant,
        user_id=user.id,
        refresh_token_hash=_refresh_digest(refresh_token),
        second_factor=second_factor,
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
    await audit.record(
        session,
        tenant=tenant,
        actor_id=str(user.id),
        facility_id=str(user.facility_id),
        action="login.succeeded",
        target=f"session:{login_session.id}",
        detail={"second_factor": second_factor},
    )
    return schemas.SessionTokens(
        access_token=token, expires_in=ttl, refresh_token=refresh_token, session_id=login_session.id
    )


async def _end_session(
    session: AsyncSession, login_session: LoginSession, *, reason: str, actor_id: str
) -> None:
    if login_session.ended_at is not None:
        return
    login_session.ended_at = _now()
    login_session.end_reason = reason
    await audit.record(
        session,
        tenant=login_session.tenant,
        actor_id=actor_id,
        action="session.ended",
        target=f"session:{login_session.id}",
        detail={"reason": reason},
    )
    await outbox.add_event(
        session,
        SessionRevokedV1(
            session_id=login_session.id,
            user_id=login_session.user_id,
            reason=reason,
            revoked_at=login_session.ended_at,
        ),
        tenant=login_session.tenant,
    )


async def _end_sessions_of(session: AsyncSession, *, user_id: UUID, reason: str, actor_id: str) -> None:
    for login_session in await repository.open_sessions_of_user(session, user_id=user_id):
        await _end_session(session, login_session, reason=reason, actor_id=actor_id)


async def refresh(
    session: AsyncSession, *, settings: Settings, refresh_token: str
) -> schemas.SessionTokens | Problem:
    """A new access token for a live session; the idle and absolute limits end it (returned: it commits)."""
    ended = Problem(401, "session-ended", "Session ended", "Sign in again.")
    login_session = await repository.session_by_refresh_hash(
        session, refresh_token_hash=_refresh_digest(refresh_token)
    )
    if login_session is None or login_session.ended_at is not None:
        return ended
    network = await _network_of(session, login_session.tenant)
    user = await session.get(User, login_session.user_id)
    facility = await session.get(Facility, user.facility_id) if user else None
    now = _now()
    reason = None
    if now >= login_session.expires_at:
        reason = "absolute-limit"
    elif now - login_session.last_seen_at > timedelta(minutes=network.session_idle_minutes):
        reason = "idle"
    elif user is None or user.status != "active" or facility is None or facility.status != "active":
        reason = "account-inactive"
    if reason:
        await _end_session(session, login_session, reason=reason, actor_id="system")
        return ended
    assert user is not None
    login_session.last_seen_at = now
    new_refresh_token = secrets.token_urlsafe(32)
    login_session.refresh_token_hash = _refresh_digest(new_refresh_token)  # rotated: a stolen copy goes stale
    token, ttl = await _access_token(
        session, settings=settings, network=network, user=user, login_session=login_session
    )
    return schemas.SessionTokens(
        access_token=token, expires_in=ttl, refresh_token=new_refresh_token, session_id=login_session.id
    )


async def list_sessions(session: AsyncSession, *, principal: Principal) -> list[schemas.SessionRead]:
    rows = await repository.sessions_of_user(session, user_id=principal.user_id)
    return [
        schemas.SessionRead.model_validate(
            {
                **{c: getattr(r, c) for c in schemas.SessionRead.model_fields if c != "current"},
                "current": str(r.id) == principal.session_id,
            }
        )
        for r in rows
    ]


async def end_own_session(
    session: AsyncSession, *, principal: Principal, session_id: UUID, reason: str
) -> None:
    login_session = await session.get(LoginSession, session_id, with_for_update=True)
    if login_session is None or login_session.user_id != principal.user_id:
        raise not_found("session")
    await _end_session(session, login_session, reason=reason, actor_id=str(principal.user_id))


async def start_totp_enrolment(
    session: AsyncSession, *, settings: Settings, tenant: str, login_id: str, password: str
) -> schemas.TotpEnrolment | Problem:
    """With the one-time initial password only: the enrolment is confirmed by the password change."""
    authenticated = await _authenticate_password(session, tenant=tenant, login_id=login_id, password=password)
    if authenticated is None:
        return login_failed()
    network, user, _ = authenticated
    if not user.must_change_password:
        # Otherwise a password alone could replace someone's second factor.
        return Problem(
            409,
            "enrolment-closed",
            "Enrolment needs a reissued password",
            "Ask your facility administrator to reissue your password to enrol a new device.",
        )
    if not network.totp_allowed:
        return Problem(
            409, "totp-not-allowed", "TOTP not allowed", "This network signs in with client certificates."
        )
    user.totp_secret = pyotp.random_base32()
    user.totp_confirmed = False
    await audit.record(
        session,
        tenant=tenant,
        actor_id=str(user.id),
        action="totp.enrolment-started",
        target=f"user:{user.id}",
    )
    uri = pyotp.TOTP(user.totp_secret).provisioning_uri(
        name=f"{login_id}@{tenant}", issuer_name=settings.totp_issuer
    )
    return schemas.TotpEnrolment(secret=user.totp_secret, provisioning_uri=uri)


async def change_password(
    session: AsyncSession,
    *,
    tenant: str,
    login_id: str,
    current_password: str,
    new_password: str,
    totp_code: str | None,
    cert_fingerprint: str | None,
) -> Problem | None:
    """Choose one's own password (I4); None on success. Needs the second factor too, except at first login,
    where the initial password is a one-time secret and a pending TOTP enrolment is confirmed instead."""
    authenticated = await _authenticate_password(
        session, tenant=tenant, login_id=login_id, password=current_password
    )
    if authenticated is None:
        return login_failed()
    network, user, _ = authenticated
    if user.must_change_password:
        if user.totp_secret and not user.totp_confirmed:
            step = _totp_step_accepted(user, totp_code or "")
            if step is None:
                await _count_failure(session, network=network, user=user, reason="totp-enrolment")
                return login_failed()
            user.totp_confirmed, user.totp_last_step = True, step
        elif not network.password_only_allowed and not await _holds_own_certificate(
            session, user=user, cert_fingerprint=cert_fingerprint
        ):
            # Finishing the first login without a second factor would leave an account nobody can sign in to.
            return Problem(
                409,
                "second-factor-required",
                "Enrol a second factor first",
                "Start the authenticator enrolment (POST /auth/totp-enrolment) and send its code, "
                "or change the password from a terminal with your client certificate.",
            )
    elif (
        await _second_factor(
            session, network=network, user=user, totp_code=totp_code, cert_fingerprint=cert_fingerprint
        )
        is None
    ):
        await _count_failure(session, network=network, user=user, reason="second-factor")
        return login_failed()
    broken = password_rule_violations(new_password, second_factor=not network.password_only_allowed)
    if broken:
        return Problem(
            422,
            "password-rules",
            "The password breaks the rules",
            "It needs: " + ", ".join(broken) + ".",
            rules=broken,
        )
    recent = [user.password_hash, *user.previous_password_hashes[: network.password_history_count]]
    if await asyncio.to_thread(reuses_a_recent_password, new_password, recent):
        return Problem(
            422,
            "password-reused",
            "Choose a password you have not used recently",
            f"The last {network.password_history_count} passwords cannot be used again.",
        )
    history = [user.password_hash, *user.previous_password_hashes][: network.password_history_count]
    user.previous_password_hashes = history
    user.password_hash = await asyncio.to_thread(hash_password, new_password)
    user.must_change_password = False
    user.password_changed_at = _now()
    user.failed_login_count = 0
    await audit.record(
        session,
        tenant=tenant,
        actor_id=str(user.id),
        facility_id=str(user.facility_id),
        action="password.changed",
        target=f"user:{user.id}",
    )
    return None


# --- signing keys -------------------------------------------------------------------------------------------


async def rotate_signing_key(session: AsyncSession, *, principal: Principal) -> str:
    """A new key signs from now on; the old ones still verify (JWKS serves them) until retired."""
    _require_role(principal, OPERATOR, CONTRACTOR)
    await tokens.current_signing_key(session)  # the first key exists before a second one is added
    key = tokens.new_signing_key()
    key.created_at = _now()
    session.add(key)
    await session.flush()
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        action="signing-key.rotated",
        target=f"kid:{key.kid}",
    )
    await outbox.add_event(session, SigningKeyRotatedV1(kid=key.kid), tenant=principal.tenant)
    return key.kid


async def retire_signing_key(session: AsyncSession, *, principal: Principal, kid: str) -> None:
    _require_role(principal, OPERATOR, CONTRACTOR)
    keys = await repository.active_signing_keys(session)
    if kid not in {k.kid for k in keys}:
        raise not_found("signing key")
    if keys[0].kid == kid:
        raise conflict("The key that signs now cannot be retired; rotate first.")
    next(k for k in keys if k.kid == kid).retired_at = _now()
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        action="signing-key.retired",
        target=f"kid:{kid}",
    )


# --- networks -----------------------------------------------------------------------------------------------


async def network_settings(session: AsyncSession, *, principal: Principal) -> Network:
    _require_role(principal, OPERATOR, CONTRACTOR)
    return await _network_of(session, principal.tenant)


async def update_network_settings(
    session: AsyncSession, *, principal: Principal, changes: schemas.NetworkSettings
) -> Network:
    _require_role(principal, OPERATOR)
    network = await _network_of(session, principal.tenant)
    updates = changes.model_dump(exclude_unset=True, exclude_none=True)
    for name, value in updates.items():
        setattr(network, name, value)
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        action="network.settings-changed",
        detail={k: str(v) for k, v in updates.items()},
    )
    return network


# --- facilities (I1, I5, I6, I9) ----------------------------------------------------------------------------


async def apply_for_facility(session: AsyncSession, *, application: schemas.FacilityApplication) -> Facility:
    """The portal's public application form: the facility waits for the operator's review."""
    await _network_of(session, application.tenant)
    if await repository.login_id_taken(
        session, tenant=application.tenant, login_id=application.administrator_login_id
    ):
        raise conflict("That administrator login id is taken; choose another.", slug="login-id-taken")
    now = _now()
    facility = Facility(
        tenant=application.tenant,
        name=application.name,
        kind=application.kind,
        status="applied",
        address=application.address,
        phone=application.phone,
        administrator_name=application.administrator_name,
        administrator_email=application.administrator_email,
        administrator_login_id=application.administrator_login_id,
        pledge_accepted_at=now,
        applied_at=now,
    )
    session.add(facility)
    await session.flush()
    await audit.record(
        session,
        tenant=facility.tenant,
        actor_id=f"applicant:{application.administrator_email}",
        facility_id=str(facility.id),
        action="facility.applied",
        target=f"facility:{facility.id}",
    )
    await outbox.add_event(
        session,
        FacilityAppliedV1(facility_id=facility.id, name=facility.name, kind=facility.kind),
        tenant=facility.tenant,
    )
    return facility


async def _facility_in_reach(session: AsyncSession, *, principal: Principal, facility_id: UUID) -> Facility:
    facility = await session.get(Facility, facility_id, with_for_update=True)
    if facility is None or facility.tenant != principal.tenant:
        raise not_found("facility")
    if not _manages_network(principal) and facility.id != principal.facility_id:
        raise not_found("facility")
    return facility


async def list_facilities(
    session: AsyncSession, *, principal: Principal, status: str | None
) -> list[Facility]:
    if _manages_network(principal):
        return list(await repository.facilities(session, tenant=principal.tenant, status=status))
    own = await session.get(Facility, principal.facility_id) if principal.facility_id else None
    return (
        [own] if own is not None and own.tenant == principal.tenant and status in (None, own.status) else []
    )


async def get_facility(session: AsyncSession, *, principal: Principal, facility_id: UUID) -> Facility:
    facility = await _facility_in_reach(session, principal=principal, facility_id=facility_id)
    # The entry names its administrator and their contact: personal data, so the read is on record (S2).
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(facility.id),
        action="facility.read",
        target=f"facility:{facility.id}",
    )
    return facility


async def approve_application(
    session: AsyncSession, *, principal: Principal, facility_id: UUID
) -> schemas.Approval:
    """Register the facility, create its administrator's account and a certificate access code (I1, I2)."""
    _require_role(principal, OPERATOR)
    facility = await _facility_in_reach(session, principal=principal, facility_id=facility_id)
    if facility.status != "applied":
        raise conflict(f"The application was already decided ({facility.status}).")
    assert facility.administrator_login_id and facility.administrator_name and facility.administrator_email
    password = initial_password()
    administrator = User(
        tenant=facility.tenant,
        facility_id=facility.id,
        login_id=facility.administrator_login_id,
        display_name=facility.administrator_name,
        password_hash=await asyncio.to_thread(hash_password, password),
        roles=[FACILITY_ADMIN, STAFF],
        must_change_password=True,
    )
    session.add(administrator)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise conflict(
            "The administrator login id was taken meanwhile; reject and ask for another."
        ) from None
    facility.status = "active"
    facility.decided_at = _now()
    facility.decided_by = principal.user_id
    actor = str(principal.user_id)
    grant = await certificates.issue_access_code(
        session, facility_id=facility.id, administrator_user_id=administrator.id, actor_id=actor
    )
    await audit.record(
        session,
        tenant=facility.tenant,
        actor_id=actor,
        facility_id=str(facility.id),
        action="facility.approved",
        target=f"facility:{facility.id}",
    )
    for data in (
        FacilityApprovedV1(
            facility_id=facility.id,
            name=facility.name,
            kind=facility.kind,
            administrator_user_id=administrator.id,
        ),
        UserCreatedV1(user_id=administrator.id, facility_id=facility.id, roles=list(administrator.roles)),
        FacilityApplicationDecidedV1(
            facility_id=facility.id,
            facility_name=facility.name,
            decision="approved",
            administrator_name=facility.administrator_name,
            administrator_email=facility.administrator_email,
            administrator_login_id=administrator.login_id,
        ),
    ):
        await outbox.add_event(session, data, tenant=facility.tenant)
    return schemas.Approval(
        facility=schemas.FacilityRead.model_validate(facility),
        administrator_user_id=administrator.id,
        administrator_login_id=administrator.login_id,
        initial_password=password,
        access_code=grant.access_code,
        access_code_pin=grant.pin,
        access_code_expires_at=grant.expires_at,
    )


async def reject_application(
    session: AsyncSession, *, principal: Principal, facility_id: UUID, reason: str
) -> Facility:
    _require_role(principal, OPERATOR)
    facility = await _facility_in_reach(session, principal=principal, facility_id=facility_id)
    if facility.status != "applied":
        raise conflict(f"The application was already decided ({facility.status}).")
    facility.status = "rejected"
    facility.rejection_reason = reason
    facility.decided_at = _now()
    facility.decided_by = principal.user_id
    await audit.record(
        session,
        tenant=facility.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(facility.id),
        action="facility.rejected",
        target=f"facility:{facility.id}",
        detail={"reason": reason},
    )
    await outbox.add_event(
        session, FacilityRejectedV1(facility_id=facility.id, reason=reason), tenant=facility.tenant
    )
    await outbox.add_event(
        session,
        FacilityApplicationDecidedV1(
            facility_id=facility.id,
            facility_name=facility.name,
            decision="rejected",
            reason=reason,
            administrator_name=facility.administrator_name or "",
            administrator_email=facility.administrator_email or "",
        ),
        tenant=facility.tenant,
    )
    return facility


async def update_facility(
    session: AsyncSession, *, principal: Principal, facility_id: UUID, changes: schemas.FacilityUpdate
) -> Facility:
    facility = await _facility_in_reach(session, principal=principal, facility_id=facility_id)
    if not (
        principal.has_role(OPERATOR)
        or (principal.has_role(FACILITY_ADMIN) and facility.id == principal.facility_id)
    ):
        raise _forbidden()
    if facility.status not in ("active", "suspended"):
        raise conflict(f"The facility is {facility.status}.")
    updates = changes.model_dump(exclude_unset=True, exclude_none=True, exclude={"publication"})
    for name, value in updates.items():
        setattr(facility, name, value)
    await audit.record(
        session,
        tenant=facility.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(facility.id),
        action="facility.changed",
        target=f"facility:{facility.id}",
        detail={"fields": sorted(updates)},
    )
    if changes.publication is not None:
        await directory.change_publication(
            session, principal=principal, facility_id=facility.id, changes=changes.publication
        )
    return facility


async def _close_facility(session: AsyncSession, facility: Facility, *, status: str, actor_id: str) -> None:
    """Withdrawal and abolition: users disabled, sessions ended, certificates revoked, tokens refused."""
    now = _now()
    facility.status = status
    facility.ended_at = now
    for user in await repository.active_users_of_facility(session, facility_id=facility.id):
        await _disable_user(
            session, user, reason=f"facility-{status}", actor_id=actor_id, revoke_certificates=False
        )
    await certificates.revoke_certificates(
        session,
        tenant=facility.tenant,
        facility_id=facility.id,
        reason="facility_withdrawn",
        actor_id=actor_id,
        note=status,
    )
    await outbox.add_event(
        session,
        FacilityDisabledV1(facility_id=facility.id, reason=status, disabled_at=now),
        tenant=facility.tenant,
    )


async def withdraw_facility(session: AsyncSession, *, principal: Principal, facility_id: UUID) -> Facility:
    """The facility's administrator asks to stop using the network (I6)."""
    facility = await _facility_in_reach(session, principal=principal, facility_id=facility_id)
    if not (principal.has_role(FACILITY_ADMIN) and facility.id == principal.facility_id):
        raise _forbidden("Only the facility's administrator applies for its withdrawal.")
    if facility.status not in ("active", "suspended"):
        raise conflict(f"The facility is {facility.status}.")
    actor = str(principal.user_id)
    await _close_facility(session, facility, status="withdrawn", actor_id=actor)
    await audit.record(
        session,
        tenant=facility.tenant,
        actor_id=actor,
        facility_id=str(facility.id),
        action="facility.withdrawn",
        target=f"facility:{facility.id}",
    )
    await outbox.add_event(
        session,
        FacilityWithdrawnV1(facility_id=facility.id, withdrawn_at=facility.ended_at or _now()),
        tenant=facility.tenant,
    )
    return facility


async def abolish_facility(
    session: AsyncSession, *, principal: Principal, facility_id: UUID, reason: str
) -> Facility:
    """The operator ends a facility's registration for prohibited acts, without notice (I9, Ni27-2)."""
    _require_role(principal, OPERATOR)
    facility = await _facility_in_reach(session, principal=principal, facility_id=facility_id)
    if facility.status not in ("active", "suspended"):
        raise conflict(f"The facility is {facility.status}.")
    actor = str(principal.user_id)
    await _close_facility(session, facility, status="abolished", actor_id=actor)
    await audit.record(
        session,
        tenant=facility.tenant,
        actor_id=actor,
        facility_id=str(facility.id),
        action="facility.abolished",
        target=f"facility:{facility.id}",
        detail={"reason": reason},
    )
    return facility


# --- staff accounts (I3, I4, I5, I7) ------------------------------------------------------------------------


async def _user_in_reach(session: AsyncSession, *, principal: Principal, user_id: UUID) -> User:
    """Operators and contractors reach their network's users, an administrator their facility's; else 404."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None or user.tenant != principal.tenant:
        raise not_found("user")
    if _manages_network(principal):
        return user
    if principal.has_role(FACILITY_ADMIN) and user.facility_id == principal.facility_id:
        return user
    raise not_found("user")


def _require_account_manager(principal: Principal, user: User | None = None) -> None:
    if principal.has_role(OPERATOR):
        return
    if principal.has_role(FACILITY_ADMIN) and (user is None or user.facility_id == principal.facility_id):
        return
    raise _forbidden()


def user_read(user: User) -> schemas.UserRead:
    return schemas.UserRead(
        id=user.id,
        tenant=user.tenant,
        facility_id=user.facility_id,
        login_id=user.login_id,
        display_name=user.display_name,
        roles=list(user.roles),
        status=user.status,
        occupation=user.occupation,
        must_change_password=user.must_change_password,
        locked=user.locked_at is not None,
        totp_enrolled=user.totp_confirmed,
    )


async def list_users(session: AsyncSession, *, principal: Principal, facility_id: UUID | None) -> list[User]:
    if _manages_network(principal):
        rows = await repository.users(session, tenant=principal.tenant, facility_id=facility_id)
    elif principal.has_role(FACILITY_ADMIN):
        if facility_id not in (None, principal.facility_id):
            raise not_found("facility")
        rows = await repository.users(session, tenant=principal.tenant, facility_id=principal.facility_id)
    else:
        raise _forbidden()
    await audit.record_by(
        session,
        principal,
        action="users.listed",
        target=f"facility:{facility_id}" if facility_id else None,
    )
    return list(rows)


async def get_user(session: AsyncSession, *, principal: Principal, user_id: UUID) -> User:
    if not (_manages_network(principal) or principal.has_role(FACILITY_ADMIN)):
        raise _forbidden()
    user = await _user_in_reach(session, principal=principal, user_id=user_id)
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        action="user.read",
        target=f"user:{user.id}",
    )
    return user


async def _target_facility(
    session: AsyncSession, *, principal: Principal, requested: UUID | None
) -> Facility:
    if principal.has_role(FACILITY_ADMIN) and requested in (None, principal.facility_id):
        facility_id = principal.facility_id
    elif principal.has_role(OPERATOR):
        network = await _network_of(session, principal.tenant)
        if not network.operator_issues_users:
            raise _forbidden("In this network facility administrators issue user ids.")
        if requested is None:
            raise Problem(
                422, "validation-error", "The request is not valid", "Name the facility (facility_id)."
            )
        facility_id = requested
    else:
        raise not_found("facility") if principal.has_role(FACILITY_ADMIN) else _forbidden()
    facility = await session.get(Facility, facility_id) if facility_id else None
    if facility is None or facility.tenant != principal.tenant:
        raise not_found("facility")
    if facility.status != "active":
        raise conflict(f"The facility is {facility.status}.")
    return facility


async def _new_user(
    session: AsyncSession, *, principal: Principal, facility: Facility, data: schemas.UserCreate
) -> tuple[User, str]:
    if await repository.login_id_taken(session, tenant=facility.tenant, login_id=data.login_id):
        raise conflict("That login id is taken.", slug="login-id-taken")
    password = initial_password()
    user = User(
        tenant=facility.tenant,
        facility_id=facility.id,
        login_id=data.login_id,
        display_name=data.display_name,
        password_hash=await asyncio.to_thread(hash_password, password),
        roles=sorted(set(data.roles)),
        occupation=data.occupation,
        must_change_password=True,
    )
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        tenant=user.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(facility.id),
        action="user.created",
        target=f"user:{user.id}",
    )
    await outbox.add_event(
        session,
        UserCreatedV1(user_id=user.id, facility_id=facility.id, roles=list(user.roles)),
        tenant=user.tenant,
    )
    return user, password


async def create_user(
    session: AsyncSession, *, principal: Principal, data: schemas.UserCreate
) -> tuple[User, str]:
    facility = await _target_facility(session, principal=principal, requested=data.facility_id)
    return await _new_user(session, principal=principal, facility=facility, data=data)


async def import_users(
    session: AsyncSession, *, principal: Principal, csv_text: str, facility_id: UUID | None
) -> schemas.ImportReport:
    """Bulk creation from CSV (login_id, display_name, roles, occupation): each row stands or falls alone."""
    facility = await _target_facility(session, principal=principal, requested=facility_id)
    rows: list[schemas.ImportRow] = []
    reader = csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))
    missing = {"login_id", "display_name"} - set(reader.fieldnames or [])
    if missing:
        raise Problem(422, "csv-header", "The CSV header is missing columns", ", ".join(sorted(missing)))
    for line, record in enumerate(reader, start=2):
        login_id = (record.get("login_id") or "").strip() or None
        roles = [r for r in (record.get("roles") or "staff").replace(";", " ").split() if r]
        try:
            data = schemas.UserCreate(
                login_id=login_id or "",
                display_name=(record.get("display_name") or "").strip(),
                roles=roles,
                occupation=(record.get("occupation") or "").strip() or None,
            )
        except ValueError as exc:
            errors = [
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in getattr(exc, "errors", lambda: [])()
            ]
            rows.append(
                schemas.ImportRow(
                    line=line, login_id=login_id, outcome="rejected", errors=errors or [str(exc)]
                )
            )
            continue
        try:
            async with session.begin_nested():
                user, password = await _new_user(session, principal=principal, facility=facility, data=data)
        except (Problem, IntegrityError) as exc:
            detail = exc.detail if isinstance(exc, Problem) else "That login id is taken."
            rows.append(
                schemas.ImportRow(line=line, login_id=login_id, outcome="rejected", errors=[detail or ""])
            )
            continue
        rows.append(
            schemas.ImportRow(
                line=line, login_id=login_id, outcome="created", user_id=user.id, initial_password=password
            )
        )
    created = sum(r.outcome == "created" for r in rows)
    return schemas.ImportReport(created=created, rejected=len(rows) - created, rows=rows)


async def update_user(
    session: AsyncSession, *, principal: Principal, user_id: UUID, changes: schemas.UserUpdate
) -> User:
    user = await _user_in_reach(session, principal=principal, user_id=user_id)
    _require_account_manager(principal, user)
    updates = changes.model_dump(exclude_unset=True, exclude_none=True)
    if "roles" in updates:
        updates["roles"] = sorted(set(updates["roles"]))
    for name, value in updates.items():
        setattr(user, name, value)
    await audit.record(
        session,
        tenant=user.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(user.facility_id),
        action="user.changed",
        target=f"user:{user.id}",
        detail={"fields": sorted(updates)},
    )
    return user


async def reissue_password(session: AsyncSession, *, principal: Principal, user_id: UUID) -> tuple[User, str]:
    """A lost password or device: a new initial password, TOTP re-enrolled, every session ended (I7)."""
    user = await _user_in_reach(session, principal=principal, user_id=user_id)
    network = await _network_of(session, user.tenant)
    if not (
        (principal.has_role(FACILITY_ADMIN) and user.facility_id == principal.facility_id)
        or (principal.has_role(OPERATOR) and network.operator_issues_users)
    ):
        raise _forbidden()
    if user.status != "active":
        raise conflict(f"The user is {user.status}.")
    password = initial_password()
    user.previous_password_hashes = [user.password_hash, *user.previous_password_hashes][
        : network.password_history_count
    ]
    user.password_hash = await asyncio.to_thread(hash_password, password)
    user.must_change_password = True
    user.totp_secret, user.totp_confirmed, user.totp_last_step = None, False, None
    user.locked_at, user.failed_login_count = None, 0
    actor = str(principal.user_id)
    await _end_sessions_of(session, user_id=user.id, reason="password-reissued", actor_id=actor)
    await audit.record(
        session,
        tenant=user.tenant,
        actor_id=actor,
        facility_id=str(user.facility_id),
        action="password.reissued",
        target=f"user:{user.id}",
    )
    return user, password


async def replace_user(
    session: AsyncSession, *, principal: Principal, user_id: UUID, new_login_id: str, reason: str
) -> tuple[User, str]:
    """When the administrator cannot reissue: the operator suspends the old id and issues a new one (I7)."""
    _require_role(principal, OPERATOR)
    old = await _user_in_reach(session, principal=principal, user_id=user_id)
    await suspend(
        session, principal=principal, target_kind="user", target_id=old.id, reason=reason, emergency=False
    )
    facility = await session.get(Facility, old.facility_id)
    assert facility is not None
    data = schemas.UserCreate(
        login_id=new_login_id,
        display_name=old.display_name,
        roles=[r for r in old.roles if r in (FACILITY_ADMIN, STAFF)] or [STAFF],
        occupation=old.occupation,
    )
    return await _new_user(session, principal=principal, facility=facility, data=data)


async def _disable_user(
    session: AsyncSession, user: User, *, reason: str, actor_id: str, revoke_certificates: bool = True
) -> None:
    now = _now()
    user.status = "disabled"
    await _end_sessions_of(session, user_id=user.id, reason="account-disabled", actor_id=actor_id)
    if revoke_certificates:
        await certificates.revoke_certificates(
            session, tenant=user.tenant, user_id=user.id, reason="user_left", actor_id=actor_id
        )
    await audit.record(
        session,
        tenant=user.tenant,
        actor_id=actor_id,
        facility_id=str(user.facility_id),
        action="user.disabled",
        target=f"user:{user.id}",
        detail={"reason": reason},
    )
    await outbox.add_event(
        session,
        UserDisabledV1(user_id=user.id, facility_id=user.facility_id, reason=reason, disabled_at=now),
        tenant=user.tenant,
    )


async def disable_user(session: AsyncSession, *, principal: Principal, user_id: UUID) -> User:
    """The person left the facility (I5): the account ends for good."""
    user = await _user_in_reach(session, principal=principal, user_id=user_id)
    _require_account_manager(principal, user)
    if user.status == "disabled":
        raise conflict("The user is already disabled.")
    await _disable_user(session, user, reason="left", actor_id=str(principal.user_id))
    return user


async def unlock_user(session: AsyncSession, *, principal: Principal, user_id: UUID) -> User:
    """After a lockout (i11) the administrator or operator, having checked who it was, unlocks."""
    user = await _user_in_reach(session, principal=principal, user_id=user_id)
    _require_account_manager(principal, user)
    user.locked_at, user.failed_login_count = None, 0
    await audit.record(
        session,
        tenant=user.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(user.facility_id),
        action="account.unlocked",
        target=f"user:{user.id}",
    )
    return user


# --- suspensions (I8, I9) -----------------------------------------------------------------------------------


async def suspend(
    session: AsyncSession,
    *,
    principal: Principal,
    target_kind: str,
    target_id: UUID,
    reason: str,
    emergency: bool,
) -> Suspension:
    """The operator suspends; a contractor only in an emergency, filing a report the operator acknowledges."""
    if principal.has_role(OPERATOR):
        role = OPERATOR
    elif principal.has_role(CONTRACTOR) and emergency:
        role = CONTRACTOR
    elif principal.has_role(CONTRACTOR):
        raise _forbidden("A contractor suspends only in an emergency (emergency: true, with the reason).")
    else:
        raise _forbidden()
    now = _now()
    actor = str(principal.user_id)
    if target_kind == "user":
        user = await _user_in_reach(session, principal=principal, user_id=target_id)
        if user.status != "active":
            raise conflict(f"The user is {user.status}.")
        user.status = "suspended"
        await _end_sessions_of(session, user_id=user.id, reason="account-suspended", actor_id=actor)
        await outbox.add_event(
            session,
            UserSuspendedV1(user_id=user.id, reason=reason, facility_id=user.facility_id, suspended_at=now),
            tenant=user.tenant,
        )
    else:
        facility = await _facility_in_reach(session, principal=principal, facility_id=target_id)
        if facility.status != "active":
            raise conflict(f"The facility is {facility.status}.")
        facility.status = "suspended"
        for user in await repository.active_users_of_facility(session, facility_id=facility.id):
            await _end_sessions_of(session, user_id=user.id, reason="facility-suspended", actor_id=actor)
        await outbox.add_event(
            session,
            FacilityDisabledV1(facility_id=facility.id, reason="suspended", disabled_at=now),
            tenant=facility.tenant,
        )
    suspension = Suspension(
        tenant=principal.tenant,
        target_kind=target_kind,
        target_id=target_id,
        reason=reason,
        emergency=emergency,
        suspended_by=principal.user_id,
        suspended_by_role=role,
        created_at=now,
        needs_acknowledgement=role == CONTRACTOR,
    )
    session.add(suspension)
    await session.flush()
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=actor,
        action=f"{target_kind}.suspended",
        target=f"{target_kind}:{target_id}",
        detail={"reason": reason, "emergency": emergency, "suspension_id": str(suspension.id)},
    )
    return suspension


async def _suspension_in_reach(
    session: AsyncSession, *, principal: Principal, suspension_id: UUID
) -> Suspension:
    suspension = await session.get(Suspension, suspension_id, with_for_update=True)
    if suspension is None or suspension.tenant != principal.tenant:
        raise not_found("suspension")
    return suspension


async def list_suspensions(
    session: AsyncSession, *, principal: Principal, open_only: bool
) -> list[Suspension]:
    _require_role(principal, OPERATOR, CONTRACTOR)
    return list(await repository.suspensions(session, tenant=principal.tenant, open_only=open_only))


async def acknowledge_suspension(
    session: AsyncSession, *, principal: Principal, suspension_id: UUID
) -> Suspension:
    _require_role(principal, OPERATOR)
    suspension = await _suspension_in_reach(session, principal=principal, suspension_id=suspension_id)
    if not suspension.needs_acknowledgement or suspension.acknowledged_at is not None:
        raise conflict("Nothing to acknowledge.")
    suspension.acknowledged_at, suspension.acknowledged_by = _now(), principal.user_id
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        action="suspension.acknowledged",
        target=f"suspension:{suspension.id}",
    )
    return suspension


async def lift_suspension(session: AsyncSession, *, principal: Principal, suspension_id: UUID) -> Suspension:
    """Reinstatement: the target is active again once no other suspension of it is open."""
    _require_role(principal, OPERATOR)
    suspension = await _suspension_in_reach(session, principal=principal, suspension_id=suspension_id)
    if suspension.lifted_at is not None:
        raise conflict("The suspension was already lifted.")
    suspension.lifted_at, suspension.lifted_by = _now(), principal.user_id
    await session.flush()
    still_open = await repository.open_suspensions_of(
        session, target_kind=suspension.target_kind, target_id=suspension.target_id
    )
    if not still_open:
        if suspension.target_kind == "user":
            user = await session.get(User, suspension.target_id, with_for_update=True)
            if user is not None and user.status == "suspended":
                user.status = "active"
                await outbox.add_event(
                    session,
                    UserReinstatedV1(user_id=user.id, facility_id=user.facility_id),
                    tenant=user.tenant,
                )
        else:
            facility = await session.get(Facility, suspension.target_id, with_for_update=True)
            if facility is not None and facility.status == "suspended":
                facility.status = "active"
                await outbox.add_event(
                    session, FacilityReinstatedV1(facility_id=facility.id), tenant=facility.tenant
                )
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        action="suspension.lifted",
        target=f"{suspension.target_kind}:{suspension.target_id}",
    )
    return suspension


# --- incident reports (I10) ---------------------------------------------------------------------------------


def _note(principal: Principal, step: str, note: str) -> dict[str, str]:
    return {"at": _now().isoformat(), "by": str(principal.user_id), "step": step, "note": note}


def _may_see_report(principal: Principal, report: IncidentReport) -> bool:
    if report.tenant != principal.tenant:
        return False
    if report.reporter_id == principal.user_id:
        return True
    if principal.has_role(FACILITY_ADMIN) and report.facility_id == principal.facility_id:
        return True
    if principal.has_role(OPERATOR) and report.escalated_at is not None:
        return True
    return principal.has_role(CONTRACTOR) and report.forwarded_at is not None


async def file_incident_report(
    session: AsyncSession, *, principal: Principal, data: schemas.IncidentReportCreate
) -> IncidentReport:
    if principal.facility_id is None:
        raise _forbidden("Reports are filed by a facility's users.")
    report = IncidentReport(
        tenant=principal.tenant,
        facility_id=principal.facility_id,
        reporter_id=principal.user_id,
        category=data.category,
        title=data.title,
        body=data.body,
        status="submitted",
        created_at=_now(),
        notes=[],
    )
    session.add(report)
    await session.flush()
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(principal.facility_id),
        action="incident.filed",
        target=f"incident:{report.id}",
    )
    return report


async def read_incident_report(
    session: AsyncSession, *, principal: Principal, report_id: UUID
) -> IncidentReport:
    report = await get_incident_report(session, principal=principal, report_id=report_id)
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(report.facility_id),
        action="incident.read",
        target=f"incident:{report.id}",
    )
    return report


async def list_incident_reports(session: AsyncSession, *, principal: Principal) -> list[IncidentReport]:
    if principal.has_role(OPERATOR):
        rows = await repository.incident_reports(
            session, tenant=principal.tenant, statuses=("with_operator", "with_contractor", "resolved")
        )
    elif principal.has_role(CONTRACTOR):
        rows = await repository.incident_reports(session, tenant=principal.tenant)
    elif principal.has_role(FACILITY_ADMIN):
        rows = await repository.incident_reports(
            session, tenant=principal.tenant, facility_id=principal.facility_id
        )
    else:
        rows = await repository.incident_reports(
            session, tenant=principal.tenant, reporter_id=principal.user_id
        )
    return [r for r in rows if _may_see_report(principal, r)]


async def get_incident_report(
    session: AsyncSession, *, principal: Principal, report_id: UUID
) -> IncidentReport:
    report = await session.get(IncidentReport, report_id, with_for_update=True)
    if report is None or not _may_see_report(principal, report):
        raise not_found("incident report")
    return report


async def advance_incident_report(
    session: AsyncSession, *, principal: Principal, report_id: UUID, step: str, note: str
) -> IncidentReport:
    """submitted -(administrator escalates)-> with_operator -(operator forwards)-> with_contractor."""
    report = await get_incident_report(session, principal=principal, report_id=report_id)
    now = _now()
    if step == "escalate":
        if not (principal.has_role(FACILITY_ADMIN) and report.facility_id == principal.facility_id):
            raise _forbidden("The facility's administrator passes a report to the operator.")
        if report.status != "submitted":
            raise conflict(f"The report is {report.status}.")
        report.status, report.escalated_at = "with_operator", now
    elif step == "forward":
        _require_role(principal, OPERATOR)
        if report.status != "with_operator":
            raise conflict(f"The report is {report.status}.")
        report.status, report.forwarded_at = "with_contractor", now
    elif step == "resolve":
        _require_role(principal, OPERATOR, CONTRACTOR)
        if report.status not in ("with_operator", "with_contractor"):
            raise conflict(f"The report is {report.status}.")
        report.status, report.resolved_at = "resolved", now
    else:
        raise not_found("step")
    report.notes = [*report.notes, _note(principal, step, note)]
    await audit.record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(report.facility_id),
        action=f"incident.{step}",
        target=f"incident:{report.id}",
    )
    return report


@dataclass(frozen=True)
class AdminOverview:
    """What the admin home page counts."""

    applications: int
    unacknowledged_reports: int
    open_incidents: int


async def admin_overview(session: AsyncSession, *, principal: Principal) -> AdminOverview:
    _require_role(principal, OPERATOR, CONTRACTOR)
    applications = await repository.facilities(session, tenant=principal.tenant, status="applied")
    suspensions = await repository.suspensions(session, tenant=principal.tenant)
    incidents = await list_incident_reports(session, principal=principal)
    return AdminOverview(
        applications=len(applications),
        unacknowledged_reports=sum(
            s.needs_acknowledgement and s.acknowledged_at is None for s in suspensions
        ),
        open_incidents=sum(i.status != "resolved" for i in incidents),
    )
