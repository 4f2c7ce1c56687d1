"""Account use cases: first-login enrolment, one's own password, and managing staff accounts. Never commits."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from uuid import UUID

import pyotp
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.auth import Principal
from yui_common.events.identity import UserCreatedV1, UserDisabledV1
from yui_common.problems import Problem, conflict, not_found
from yui_common.vocabulary import PROFESSIONS

from identity import audit_trail
from identity.accounts import repository
from identity.accounts.authentication import (
    authenticate_password,
    end_backoff,
    holds_own_certificate,
    second_factor,
    totp_step_accepted,
)
from identity.accounts.schemas import ImportReport, ImportRow, TotpEnrolment, UserCreate, UserRead, UserUpdate
from identity.auth import FACILITY_ADMIN, OPERATOR, STAFF, manages_network, user_in_reach
from identity.certificates import service as certificates
from identity.models import Facility, Network, User
from identity.networks.service import network_of
from identity.passwords import (
    hash_password,
    initial_password,
    password_rule_violations,
    reuses_a_recent_password,
)
from identity.people.professions import profession_of
from identity.people.service import publish_person_changed
from identity.problems import forbidden
from identity.sessions.service import end_sessions_of
from identity.settings import Settings
from identity.suspensions import service as suspensions


def _now() -> datetime:
    return datetime.now(UTC)


# --- first login and one's own password (I4) ----------------------------------------------------------------


async def start_totp_enrolment(
    session: AsyncSession,
    *,
    settings: Settings,
    tenant: str,
    login_id: str,
    password: str,
    source_address: str | None = None,
) -> TotpEnrolment | Problem:
    """With the one-time initial password only: the enrolment is confirmed by the password change."""
    accepted = await authenticate_password(
        session, settings, source_address=source_address, tenant=tenant, login_id=login_id, password=password
    )
    if isinstance(accepted, Problem):
        return accepted
    network, user = accepted.network, accepted.user
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
    await audit_trail.record(
        session, "totp.enrolment-started", by=str(user.id), tenant=tenant, target=f"user:{user.id}"
    )
    uri = pyotp.TOTP(user.totp_secret).provisioning_uri(
        name=f"{login_id}@{tenant}", issuer_name=settings.totp_issuer
    )
    return TotpEnrolment(secret=user.totp_secret, provisioning_uri=uri)


async def change_password(
    session: AsyncSession,
    *,
    settings: Settings,
    tenant: str,
    login_id: str,
    current_password: str,
    new_password: str,
    totp_code: str | None,
    cert_fingerprint: str | None,
    source_address: str | None = None,
) -> Problem | None:
    """Choose one's own password (I4); None on success. Needs the second factor too, except at first login,
    where the initial password is a one-time secret and a pending TOTP enrolment is confirmed instead."""
    accepted = await authenticate_password(
        session,
        settings,
        source_address=source_address,
        tenant=tenant,
        login_id=login_id,
        password=current_password,
        totp_code=totp_code,
        cert_fingerprint=cert_fingerprint,
    )
    if isinstance(accepted, Problem):
        return accepted
    network, user = accepted.network, accepted.user

    if user.must_change_password:
        if user.totp_secret and not user.totp_confirmed:
            step = totp_step_accepted(user, totp_code or "")
            if step is None:
                return await accepted.refuse(session, reason="totp-enrolment")
            user.totp_confirmed, user.totp_last_step = True, step
        elif not network.password_only_allowed and not await holds_own_certificate(
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
        await second_factor(
            session, network=network, user=user, totp_code=totp_code, cert_fingerprint=cert_fingerprint
        )
        is None
    ):
        return await accepted.refuse(session, reason="second-factor")
    problem = await set_new_password(session, network=network, user=user, new_password=new_password)
    if problem is not None:
        return problem
    await end_backoff(session, user=user)
    await audit_trail.record(session, "password.changed", by=str(user.id), on=user)
    return None


async def set_new_password(
    session: AsyncSession, *, network: Network, user: User, new_password: str
) -> Problem | None:
    """The network's rules for a new password (strength, not one of the recent ones), then store it: it
    counts from now for the periodic change (I4) and ends any must-change state. None on success."""
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
    return None


# --- staff accounts (I3, I4, I5, I7) ------------------------------------------------------------------------


def _require_account_manager(principal: Principal, user: User | None = None) -> None:
    if principal.has_role(OPERATOR):
        return
    if principal.has_role(FACILITY_ADMIN) and (user is None or user.facility_id == principal.facility_id):
        return
    raise forbidden()


def user_read(user: User) -> UserRead:
    return UserRead(
        id=user.id,
        tenant=user.tenant,
        facility_id=user.facility_id,
        login_id=user.login_id,
        display_name=user.display_name,
        name_kana=user.name_kana,
        roles=list(user.roles),
        status=user.status,
        profession=user.profession or "other",
        must_change_password=user.must_change_password,
        locked=user.locked_at is not None,
        totp_enrolled=user.totp_confirmed,
    )


async def list_users(session: AsyncSession, *, principal: Principal, facility_id: UUID | None) -> list[User]:
    if manages_network(principal):
        rows = await repository.users(session, tenant=principal.tenant, facility_id=facility_id)
    elif principal.has_role(FACILITY_ADMIN):
        if facility_id not in (None, principal.facility_id):
            raise not_found("facility")
        rows = await repository.users(session, tenant=principal.tenant, facility_id=principal.facility_id)
    else:
        raise forbidden()
    await audit.record_by(
        session,
        principal,
        action="users.listed",
        target=f"facility:{facility_id}" if facility_id else None,
    )
    return list(rows)


async def get_user(session: AsyncSession, *, principal: Principal, user_id: UUID) -> User:
    if not (manages_network(principal) or principal.has_role(FACILITY_ADMIN)):
        raise forbidden()
    user = await user_in_reach(session, principal=principal, user_id=user_id)
    await audit_trail.record(session, "user.read", by=principal, target=f"user:{user.id}")
    return user


async def _target_facility(
    session: AsyncSession, *, principal: Principal, requested: UUID | None
) -> Facility:
    if principal.has_role(FACILITY_ADMIN) and requested in (None, principal.facility_id):
        facility_id = principal.facility_id
    elif principal.has_role(OPERATOR):
        network = await network_of(session, principal.tenant)
        if not network.operator_issues_users:
            raise forbidden("In this network facility administrators issue user ids.")
        if requested is None:
            raise Problem(
                422, "validation-error", "The request is not valid", "Name the facility (facility_id)."
            )
        facility_id = requested
    else:
        raise not_found("facility") if principal.has_role(FACILITY_ADMIN) else forbidden()
    facility = await session.get(Facility, facility_id) if facility_id else None
    if facility is None or facility.tenant != principal.tenant:
        raise not_found("facility")
    if facility.status != "active":
        raise conflict(f"The facility is {facility.status}.")
    return facility


async def _new_user(
    session: AsyncSession, *, principal: Principal, facility: Facility, data: UserCreate
) -> tuple[User, str]:
    if await repository.login_id_taken(session, tenant=facility.tenant, login_id=data.login_id):
        raise conflict("That login id is taken.", slug="login-id-taken")
    password = initial_password()
    user = User(
        tenant=facility.tenant,
        facility_id=facility.id,
        login_id=data.login_id,
        display_name=data.display_name,
        name_kana=data.name_kana,
        password_hash=await asyncio.to_thread(hash_password, password),
        roles=sorted(set(data.roles)),
        profession=data.profession or profession_of(data.occupation),
        must_change_password=True,
        person_version=0,
    )
    session.add(user)
    await session.flush()
    await audit_trail.record(session, "user.created", by=principal, on=user)
    await outbox.add_event(
        session,
        UserCreatedV1(user_id=user.id, facility_id=facility.id, roles=list(user.roles)),
        tenant=user.tenant,
    )
    await publish_person_changed(session, user, facility=facility)
    return user, password


async def create_user(session: AsyncSession, *, principal: Principal, data: UserCreate) -> tuple[User, str]:
    facility = await _target_facility(session, principal=principal, requested=data.facility_id)
    return await _new_user(session, principal=principal, facility=facility, data=data)


async def import_users(
    session: AsyncSession, *, principal: Principal, csv_text: str, facility_id: UUID | None
) -> ImportReport:
    """Bulk creation from CSV (login_id, display_name, roles, and optionally name_kana and profession, which may
    be a code or a word such as 「看護師」; the older "occupation" column is read as profession): each row stands
    or falls alone."""
    facility = await _target_facility(session, principal=principal, requested=facility_id)
    rows: list[ImportRow] = []
    reader = csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))
    missing = {"login_id", "display_name"} - set(reader.fieldnames or [])
    if missing:
        raise Problem(422, "csv-header", "The CSV header is missing columns", ", ".join(sorted(missing)))
    for line, record in enumerate(reader, start=2):
        login_id = (record.get("login_id") or "").strip() or None
        roles = [r for r in (record.get("roles") or "staff").replace(";", " ").split() if r]
        try:
            data = UserCreate(
                login_id=login_id or "",
                display_name=(record.get("display_name") or "").strip(),
                name_kana=(record.get("name_kana") or "").strip() or None,
                roles=roles,
                profession=profession_of(record.get("profession") or record.get("occupation")),
            )
        except ValueError as exc:
            errors = [
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in getattr(exc, "errors", lambda: [])()
            ]
            rows.append(
                ImportRow(line=line, login_id=login_id, outcome="rejected", errors=errors or [str(exc)])
            )
            continue
        try:
            async with session.begin_nested():
                user, password = await _new_user(session, principal=principal, facility=facility, data=data)
        except (Problem, IntegrityError) as exc:
            detail = exc.detail if isinstance(exc, Problem) else "That login id is taken."
            rows.append(ImportRow(line=line, login_id=login_id, outcome="rejected", errors=[detail or ""]))
            continue
        rows.append(
            ImportRow(
                line=line, login_id=login_id, outcome="created", user_id=user.id, initial_password=password
            )
        )
    created = sum(r.outcome == "created" for r in rows)
    return ImportReport(created=created, rejected=len(rows) - created, rows=rows)


async def update_user(
    session: AsyncSession, *, principal: Principal, user_id: UUID, changes: UserUpdate
) -> User:
    user = await user_in_reach(session, principal=principal, user_id=user_id)
    _require_account_manager(principal, user)
    updates = changes.model_dump(exclude_unset=True, exclude_none=True, exclude={"occupation"})
    if changes.occupation is not None and changes.profession is None:
        updates["profession"] = profession_of(changes.occupation)
    if "roles" in updates:
        updates["roles"] = sorted(set(updates["roles"]))
    # Only what differs is a change: an unchanged form saved again publishes nothing.
    updates = {name: value for name, value in updates.items() if getattr(user, name) != value}
    for name, value in updates.items():
        setattr(user, name, value)
    await audit_trail.record(
        session, "user.changed", by=principal, on=user, detail={"fields": sorted(updates)}
    )
    if updates.keys() & {"display_name", "name_kana", "profession"}:
        await publish_person_changed(session, user)
    return user


async def reissue_password(session: AsyncSession, *, principal: Principal, user_id: UUID) -> tuple[User, str]:
    """A lost password or device: a new initial password, TOTP re-enrolled, every session ended (I7)."""
    user = await user_in_reach(session, principal=principal, user_id=user_id)
    network = await network_of(session, user.tenant)
    if not (
        (principal.has_role(FACILITY_ADMIN) and user.facility_id == principal.facility_id)
        or (principal.has_role(OPERATOR) and network.operator_issues_users)
    ):
        raise forbidden()
    if user.status != "active":
        raise conflict(f"The user is {user.status}.")
    password = initial_password()
    user.previous_password_hashes = [user.password_hash, *user.previous_password_hashes][
        : network.password_history_count
    ]
    user.password_hash = await asyncio.to_thread(hash_password, password)
    user.must_change_password = True
    user.totp_secret, user.totp_confirmed, user.totp_last_step = None, False, None
    await end_backoff(session, user=user)  # a fresh start: the failures of the old password are history
    actor = str(principal.user_id)
    await end_sessions_of(session, user_id=user.id, reason="password-reissued", actor_id=actor)
    await audit_trail.record(session, "password.reissued", by=actor, on=user)
    return user, password


async def replace_user(
    session: AsyncSession, *, principal: Principal, user_id: UUID, new_login_id: str, reason: str
) -> tuple[User, str]:
    """When the administrator cannot reissue: the operator suspends the old id and issues a new one (I7)."""
    old = await user_in_reach(session, principal=principal, user_id=user_id)
    await suspensions.suspend(
        session, principal=principal, target_kind="user", target_id=old.id, reason=reason, emergency=False
    )
    facility = await session.get(Facility, old.facility_id)
    assert facility is not None
    data = UserCreate(
        login_id=new_login_id,
        display_name=old.display_name,
        name_kana=old.name_kana,
        roles=[r for r in old.roles if r in (FACILITY_ADMIN, STAFF)] or [STAFF],
        profession=old.profession if old.profession in PROFESSIONS else None,
    )
    return await _new_user(session, principal=principal, facility=facility, data=data)


async def disable_account(
    session: AsyncSession, user: User, *, reason: str, actor_id: str, revoke_certificates: bool = True
) -> None:
    now = _now()
    user.status = "disabled"
    await end_sessions_of(session, user_id=user.id, reason="account-disabled", actor_id=actor_id)
    if revoke_certificates:
        await certificates.revoke_certificates(
            session, tenant=user.tenant, user_id=user.id, reason="user_left", actor_id=actor_id
        )
    await audit_trail.record(session, "user.disabled", by=actor_id, on=user, detail={"reason": reason})
    await outbox.add_event(
        session,
        UserDisabledV1(user_id=user.id, facility_id=user.facility_id, reason=reason, disabled_at=now),
        tenant=user.tenant,
    )
    await publish_person_changed(session, user)


async def disable_user(session: AsyncSession, *, principal: Principal, user_id: UUID) -> User:
    """The person left the facility (I5): the account ends for good."""
    user = await user_in_reach(session, principal=principal, user_id=user_id)
    _require_account_manager(principal, user)
    if user.status == "disabled":
        raise conflict("The user is already disabled.")
    await disable_account(session, user, reason="left", actor_id=str(principal.user_id))
    return user


async def unlock_user(session: AsyncSession, *, principal: Principal, user_id: UUID) -> User:
    """The backoff after failed sign-ins (i11) ends by itself; the administrator or operator, having checked
    who it was, may end it at once."""
    user = await user_in_reach(session, principal=principal, user_id=user_id)
    _require_account_manager(principal, user)
    await end_backoff(session, user=user)
    await audit_trail.record(session, "account.unlocked", by=principal, on=user)
    return user
