"""One's own account: profile, password (I4) and authenticator, for the signed-in user only. Never commits."""

from __future__ import annotations

import hmac
import time
from datetime import timedelta

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal
from yui_common.problems import Problem, not_found

from identity import audit_trail
from identity.accounts.authentication import TOTP_STEP_S, authenticate_password, end_backoff
from identity.accounts.schemas import TotpEnrolment
from identity.accounts.service import set_new_password
from identity.models import Facility, Network, User
from identity.networks.service import network_of
from identity.own_account.schemas import Profile, ProfileUpdate
from identity.people.service import publish_person_changed
from identity.sessions import repository as sessions
from identity.sessions.service import end_session
from identity.settings import Settings


async def _own(session: AsyncSession, principal: Principal, *, lock: bool = False) -> tuple[User, Facility]:
    user = await session.get(User, principal.user_id, with_for_update=lock)
    facility = await session.get(Facility, user.facility_id) if user is not None else None
    if user is None or facility is None or user.tenant != principal.tenant:
        raise not_found("user")
    return user, facility


def _profile(user: User, facility: Facility, network: Network) -> Profile:
    changed = user.password_changed_at or user.created_at
    expires = (
        changed + timedelta(days=network.password_max_age_days)
        if network.password_max_age_days is not None and changed is not None
        else None
    )
    return Profile(
        id=user.id,
        login_id=user.login_id,
        name=user.display_name,
        name_kana=user.name_kana,
        profession=user.profession or "other",
        facility_id=facility.id,
        facility_name=facility.name,
        roles=sorted(user.roles),
        totp_enrolled=user.totp_confirmed,
        totp_allowed=network.totp_allowed,
        password_changed_at=user.password_changed_at,
        password_expires_at=expires,
    )


async def profile(session: AsyncSession, *, principal: Principal) -> Profile:
    user, facility = await _own(session, principal)
    return _profile(user, facility, await network_of(session, user.tenant))


async def change_profile(session: AsyncSession, *, principal: Principal, changes: ProfileUpdate) -> Profile:
    """Name and kana; other services learn of it through identity.person-changed.v1."""
    user, facility = await _own(session, principal, lock=True)
    updates: dict[str, str | None] = {}
    if changes.name is not None and changes.name.strip() and changes.name.strip() != user.display_name:
        updates["display_name"] = changes.name.strip()
    if "name_kana" in changes.model_fields_set:
        kana = (changes.name_kana or "").strip() or None
        if kana != user.name_kana:
            updates["name_kana"] = kana
    for name, value in updates.items():
        setattr(user, name, value)
    if updates:
        await audit_trail.record(
            session, "profile.changed", by=principal, on=user, detail={"fields": sorted(updates)}
        )
        await publish_person_changed(session, user, facility=facility)
    return _profile(user, facility, await network_of(session, user.tenant))


async def change_own_password(
    session: AsyncSession,
    *,
    settings: Settings,
    principal: Principal,
    current_password: str,
    new_password: str,
    source_address: str | None,
) -> Problem | None:
    """The signed-in user chooses a new password (I4); None on success, a Problem returned so that a wrong
    current password's count and audit entry commit. Every other session of the user ends: a password is
    often changed because someone else may know it, and their sessions should not outlive it."""
    user, _ = await _own(session, principal)
    accepted = await authenticate_password(
        session,
        settings,
        source_address=source_address,
        tenant=user.tenant,
        login_id=user.login_id,
        password=current_password,
    )
    if isinstance(accepted, Problem):
        return accepted
    problem = await set_new_password(session, network=accepted.network, user=user, new_password=new_password)
    if problem is not None:
        return problem
    await end_backoff(session, user=user)
    await audit_trail.record(
        session, "password.changed", by=principal, on=user, detail={"how": "own-account"}
    )
    for other in await sessions.open_sessions_of_user(session, user_id=user.id):
        if str(other.id) != principal.session_id:
            await end_session(session, other, reason="password-changed", actor_id=str(user.id))
    return None


async def start_authenticator_enrolment(
    session: AsyncSession,
    *,
    settings: Settings,
    principal: Principal,
    current_password: str,
    source_address: str | None,
) -> TotpEnrolment | Problem:
    """A new authenticator (a first one, or a new phone): a secret and its otpauth:// URI. The one in use
    stays valid until the new one's first code confirms it."""
    user, _ = await _own(session, principal)
    accepted = await authenticate_password(
        session,
        settings,
        source_address=source_address,
        tenant=user.tenant,
        login_id=user.login_id,
        password=current_password,
    )
    if isinstance(accepted, Problem):
        return accepted
    if not accepted.network.totp_allowed:
        return Problem(
            409, "totp-not-allowed", "TOTP not allowed", "This network signs in with client certificates."
        )
    user.totp_pending_secret = pyotp.random_base32()
    await audit_trail.record(session, "totp.enrolment-started", by=principal, on=user)
    uri = pyotp.TOTP(user.totp_pending_secret).provisioning_uri(
        name=f"{user.login_id}@{user.tenant}", issuer_name=settings.totp_issuer
    )
    return TotpEnrolment(secret=user.totp_pending_secret, provisioning_uri=uri)


def _pending_step(secret: str, code: str) -> int | None:
    totp = pyotp.TOTP(secret)
    current = int(time.time()) // TOTP_STEP_S
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def confirm_authenticator(session: AsyncSession, *, principal: Principal, code: str) -> None:
    """The new authenticator's first code makes it the one sign-in asks for from now on."""
    user, _ = await _own(session, principal, lock=True)
    if not user.totp_pending_secret:
        raise Problem(409, "no-enrolment", "No authenticator is being enrolled", "Start the enrolment first.")
    step = _pending_step(user.totp_pending_secret, code)
    if step is None:
        raise Problem(
            422,
            "totp-code-wrong",
            "The code does not match",
            "Type the 6-digit code the authenticator app shows now.",
        )
    replaced = user.totp_confirmed
    user.totp_secret, user.totp_confirmed, user.totp_last_step = user.totp_pending_secret, True, step
    user.totp_pending_secret = None
    await audit_trail.record(session, "totp.enrolled", by=principal, on=user, detail={"replaced": replaced})
