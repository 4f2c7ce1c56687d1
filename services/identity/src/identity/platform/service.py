"""The contractor's use cases: create, list, show, suspend and resume networks; the contractor's own accounts
and their sign-in (password, then TOTP; the first sign-in chooses the password and enrols the TOTP). Never
commits.

Decision (issue 11): the contractor's accounts are ``platform_accounts``, not ``users``: a user belongs to a
network and a facility, the contractor to none, and no network's operator may see or change them. Their
sign-in yields a platform token with its own audience (``yui-platform``), which no service's API accepts (they
verify the audience ``yui``): the contractor runs networks from this console and the command line, and enters
no network's data.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
import pyotp
from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.events.identity import (
    NetworkCreatedV1,
    NetworkResumedV1,
    NetworkSuspendedV1,
    UserCreatedV1,
)
from yui_common.problems import Problem, conflict, not_found

from identity import tokens
from identity.certificates import service as certificates
from identity.models import Facility, Network, PlatformAccount, SignInBackoff, User
from identity.networks import municipalities
from identity.networks.state import publish_network_state
from identity.passwords import (
    DUMMY_HASH,
    hash_password,
    initial_password,
    password_rule_violations,
    verify_password,
)
from identity.people.service import publish_person_changed
from identity.platform import repository
from identity.platform.schemas import (
    ContractorCreated,
    MunicipalityRead,
    NetworkCreate,
    NetworkDetail,
    NetworkSummary,
    ProvisionedNetwork,
)
from identity.settings import Settings

# Audit entries of the contractor's own sign-ins belong to no network: they are kept under this name, which
# no network's slug can take (slugs are [a-z0-9-]).
PLATFORM_SCOPE = "_platform"
PLATFORM_AUDIENCE = "yui-platform"
PLATFORM_TOKEN_TTL_S = 8 * 3600
BACKOFF_THRESHOLD = 5
BACKOFF_CAP = timedelta(minutes=15)


def _now() -> datetime:
    return datetime.now(UTC)


def municipality_reads(codes: list[str]) -> list[MunicipalityRead]:
    found = []
    for code in codes:
        municipality = municipalities.lookup(code)
        if municipality is None:  # a code set before the table was checked: shown as it is, never hidden
            found.append(MunicipalityRead(code=code, prefecture="", name=code, kana="", label=code))
        else:
            found.append(
                MunicipalityRead(
                    code=code,
                    prefecture=municipality.prefecture,
                    name=municipality.name,
                    kana=municipality.kana,
                    label=municipality.label,
                )
            )
    return found


def summary(network: Network) -> NetworkSummary:
    return NetworkSummary(
        slug=network.slug,
        name=network.name,
        status=network.status,
        created_at=network.created_at,
        suspended_at=network.suspended_at,
        municipalities=municipality_reads(list(network.municipality_codes)),
    )


async def detail(session: AsyncSession, network: Network) -> NetworkDetail:
    facilities, users = await repository.counts(session, network.slug)
    return NetworkDetail(
        **summary(network).model_dump(),
        operator_office=network.operator_office,
        support_hours=network.support_hours,
        retention_years=network.retention_years,
        discontinuation_notice_months=network.discontinuation_notice_months,
        two_factor_policy="totp_or_certificate" if network.totp_allowed else "certificate_only",
        directory_rule="opt_in" if network.directory_opt_in_only else "all",
        max_attachment_mb=network.max_attachment_bytes // (1024 * 1024),
        withdrawal_mode=network.withdrawal_mode,
        suspension_reason=network.suspension_reason,
        facilities=facilities,
        users=users,
    )


# --- networks ------------------------------------------------------------------------------------------------


async def create_network(session: AsyncSession, *, actor: str, data: NetworkCreate) -> ProvisionedNetwork:
    """The network, its operator's office and first operator (initial password: at the first sign-in they
    choose their own and enrol a second factor), identity.network-created.v1 (the portal makes the first
    terms version from it), all in the caller's transaction."""
    chosen = municipalities.validate_all(data.municipality_codes)
    if await repository.network(session, data.slug) is not None:
        raise conflict(f"A network with the slug {data.slug!r} exists already.", slug="network-exists")
    now = _now()
    network = Network(
        slug=data.slug,
        name=data.name,
        municipality_codes=[m.code for m in chosen],
        retention_years=data.retention_years,
        support_hours=data.support_hours,
        withdrawal_mode=data.withdrawal_mode,
        totp_allowed=data.two_factor_policy == "totp_or_certificate",
        directory_opt_in_only=data.directory_rule == "opt_in",
        max_attachment_bytes=data.max_attachment_mb * 1024 * 1024,
        discontinuation_notice_months=data.discontinuation_notice_months,
        operator_office=data.operator_office,
        status="active",
        state_version=0,
        created_at=now,
    )
    session.add(network)
    await session.flush()
    office = Facility(
        tenant=network.slug,
        name=data.operator_office,
        kind="municipality",
        status="active",
        decided_at=now,
        # The operator's office is not a care facility: it is not listed in the public directory.
        published=False,
    )
    session.add(office)
    await session.flush()
    password = initial_password()
    operator = User(
        tenant=network.slug,
        facility_id=office.id,
        login_id=data.operator_login_id,
        display_name=data.operator_name,
        name_kana=data.operator_name_kana,
        profession="municipal_staff",
        password_hash=await asyncio.to_thread(hash_password, password),
        roles=["operator"],
        must_change_password=True,
        person_version=0,
    )
    session.add(operator)
    await session.flush()
    access_code = pin = None
    if not network.totp_allowed:
        grant = await certificates.issue_access_code(
            session, facility_id=office.id, administrator_user_id=operator.id, actor_id=actor
        )
        access_code, pin = grant.access_code, grant.pin
    await audit.record(
        session,
        tenant=network.slug,
        actor_id=actor,
        facility_id=str(office.id),
        action="network.created",
        target=f"network:{network.slug}",
        detail={
            "municipalities": ",".join(network.municipality_codes),
            "operator": f"user:{operator.id}",
            "two_factor_policy": data.two_factor_policy,
            "withdrawal_mode": data.withdrawal_mode,
        },
    )
    await outbox.add_event(
        session,
        UserCreatedV1(user_id=operator.id, facility_id=office.id, roles=list(operator.roles)),
        tenant=network.slug,
    )
    await publish_person_changed(session, operator, facility=office)
    await publish_network_state(session, network, NetworkCreatedV1)
    return ProvisionedNetwork(
        network=await detail(session, network),
        operator_login_id=operator.login_id,
        operator_name=operator.display_name,
        operator_initial_password=password,
        operator_access_code=access_code,
        operator_access_code_pin=pin,
    )


async def list_networks(session: AsyncSession) -> list[NetworkSummary]:
    return [summary(n) for n in await repository.networks(session)]


async def network_detail(session: AsyncSession, slug: str) -> NetworkDetail:
    network = await repository.network(session, slug)
    if network is None:
        raise not_found("network")
    return await detail(session, network)


async def suspend_network(session: AsyncSession, *, actor: str, slug: str, reason: str) -> NetworkDetail:
    """Every service refuses the network's staff requests and public pages (by event; identity at once, in
    this transaction); nothing is deleted, sessions and data wait for the resumption."""
    network = await repository.network(session, slug, for_update=True)
    if network is None:
        raise not_found("network")
    if network.status == "suspended":
        raise conflict("The network is suspended already.", slug="network-already-suspended")
    if network.status in ("ending", "ended"):  # identity.network_end: its data is being or was deleted
        raise conflict("The network is ending or has ended.", slug="network-ended")
    network.status = "suspended"
    network.suspended_at = _now()
    network.suspension_reason = reason.strip()
    await audit.record(
        session,
        tenant=slug,
        actor_id=actor,
        action="network.suspended",
        target=f"network:{slug}",
        detail={"reason": network.suspension_reason},
    )
    await publish_network_state(
        session,
        network,
        NetworkSuspendedV1,
        reason=network.suspension_reason,
        suspended_at=network.suspended_at,
    )
    return await detail(session, network)


async def resume_network(session: AsyncSession, *, actor: str, slug: str) -> NetworkDetail:
    network = await repository.network(session, slug, for_update=True)
    if network is None:
        raise not_found("network")
    if network.status != "suspended":
        raise conflict("The network is not suspended.", slug="network-not-suspended")
    suspended_at = network.suspended_at
    network.status = "active"
    network.suspended_at = None
    network.suspension_reason = None
    await audit.record(
        session,
        tenant=slug,
        actor_id=actor,
        action="network.resumed",
        target=f"network:{slug}",
        detail={"suspended_at": suspended_at.isoformat() if suspended_at else ""},
    )
    await publish_network_state(session, network, NetworkResumedV1)
    return await detail(session, network)


# --- the contractor's accounts ---------------------------------------------------------------------------------


async def create_contractor(
    session: AsyncSession, *, login_id: str, display_name: str, actor: str
) -> ContractorCreated:
    if await repository.account_by_login(session, login_id) is not None:
        raise conflict(f"The login id {login_id!r} is taken.", slug="login-id-taken")
    password = initial_password()
    account = PlatformAccount(
        login_id=login_id,
        display_name=display_name,
        password_hash=await asyncio.to_thread(hash_password, password),
        must_change_password=True,
    )
    session.add(account)
    await session.flush()
    await audit.record(
        session,
        tenant=PLATFORM_SCOPE,
        actor_id=actor,
        action="platform.contractor-created",
        target=f"platform-account:{account.id}",
    )
    return ContractorCreated(login_id=login_id, display_name=display_name, initial_password=password)


def sign_in_refused() -> Problem:
    return Problem(401, "login-failed", "Login failed", "The login id, password or second factor is wrong.")


async def _refuse(
    session: AsyncSession, login_id: str, account: PlatformAccount | None, reason: str
) -> Problem:
    """Count the failure (each one from the threshold on doubles the wait) and audit it."""
    now = _now()
    backoff = await repository.backoff_for_update(session, scope=PLATFORM_SCOPE, login_id=login_id)
    if backoff is None:
        backoff = SignInBackoff(
            tenant=PLATFORM_SCOPE, login_id=login_id, consecutive_failures=0, last_failed_at=now
        )
        session.add(backoff)
    backoff.consecutive_failures = (backoff.consecutive_failures or 0) + 1
    backoff.last_failed_at = now
    if backoff.consecutive_failures >= BACKOFF_THRESHOLD:
        wait = timedelta(seconds=2 ** (backoff.consecutive_failures - BACKOFF_THRESHOLD + 1))
        backoff.blocked_until = now + min(wait, BACKOFF_CAP)
    await audit.record(
        session,
        tenant=PLATFORM_SCOPE,
        actor_id=f"login:{login_id}",
        action="platform.login-failed",
        target=f"platform-account:{account.id}" if account else None,
        detail={"reason": reason},
    )
    return sign_in_refused()


async def _password_accepted(
    session: AsyncSession, login_id: str, password: str
) -> PlatformAccount | Problem:
    backoff = await repository.backoff_for_update(session, scope=PLATFORM_SCOPE, login_id=login_id)
    if backoff is not None and backoff.blocked_until is not None and backoff.blocked_until > _now():
        return sign_in_refused()
    account = await repository.account_by_login(session, login_id, for_update=True)
    ok = await asyncio.to_thread(verify_password, account.password_hash if account else DUMMY_HASH, password)
    if account is None or not ok or account.status != "active":
        return await _refuse(session, login_id, account, "password" if account else "unknown")
    return account


def _totp_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step a code proves (now or one step either side), if not spent already."""
    if not code or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time())
    for offset in (0, -1, 1):
        step = now // totp.interval + offset
        if pyotp.utils.strings_equal(totp.at(step * totp.interval), code) and (
            last_step is None or step > last_step
        ):
            return step
    return None


async def sign_in(
    session: AsyncSession, *, login_id: str, password: str, totp_code: str
) -> PlatformAccount | Problem:
    """Password and TOTP; an account with its initial password is told to finish its first sign-in."""
    accepted = await _password_accepted(session, login_id, password)
    if isinstance(accepted, Problem):
        return accepted
    account = accepted
    if account.must_change_password or not account.totp_confirmed or not account.totp_secret:
        return Problem(
            403,
            "password-change-required",
            "Choose your own password",
            "This is an initial password: choose your own and enrol your authenticator first.",
        )
    step = _totp_step(account.totp_secret, totp_code, account.totp_last_step)
    if step is None:
        return await _refuse(session, login_id, account, "second-factor")
    account.totp_last_step = step
    account.last_signed_in_at = _now()
    backoff = await repository.backoff_for_update(session, scope=PLATFORM_SCOPE, login_id=login_id)
    if backoff is not None:
        await session.delete(backoff)
    await audit.record(
        session,
        tenant=PLATFORM_SCOPE,
        actor_id=f"platform:{account.id}",
        action="platform.login-succeeded",
        target=f"platform-account:{account.id}",
    )
    return account


async def start_enrolment(
    session: AsyncSession, *, settings: Settings, login_id: str, password: str
) -> tuple[str, str] | Problem:
    """With the initial password only: a new TOTP secret and its provisioning URI (confirmed by the change)."""
    accepted = await _password_accepted(session, login_id, password)
    if isinstance(accepted, Problem):
        return accepted
    if not accepted.must_change_password:
        return Problem(
            409, "enrolment-closed", "Enrolment closed", "Only the first sign-in enrols an authenticator."
        )
    accepted.totp_secret = pyotp.random_base32()
    accepted.totp_confirmed = False
    uri = pyotp.TOTP(accepted.totp_secret).provisioning_uri(
        name=f"{login_id}@platform", issuer_name=settings.totp_issuer
    )
    return accepted.totp_secret, uri


async def finish_first_sign_in(
    session: AsyncSession, *, login_id: str, current_password: str, new_password: str, totp_code: str
) -> PlatformAccount | Problem:
    """The first sign-in: the authenticator's code confirms the enrolment, the password becomes one's own."""
    accepted = await _password_accepted(session, login_id, current_password)
    if isinstance(accepted, Problem):
        return accepted
    account = accepted
    if not account.must_change_password or not account.totp_secret:
        return Problem(
            409, "enrolment-closed", "Enrolment closed", "Start the enrolment with the initial password."
        )
    step = _totp_step(account.totp_secret, totp_code, account.totp_last_step)
    if step is None:
        return await _refuse(session, login_id, account, "totp-enrolment")
    broken = password_rule_violations(new_password, second_factor=True)
    if broken:
        return Problem(
            422,
            "password-rules",
            "The password breaks the rules",
            "It needs: " + ", ".join(broken) + ".",
            rules=broken,
        )
    if await asyncio.to_thread(verify_password, account.password_hash, new_password):
        return Problem(
            422, "password-reused", "Choose a new password", "The new password is the initial one."
        )
    account.password_hash = await asyncio.to_thread(hash_password, new_password)
    account.must_change_password = False
    account.totp_confirmed, account.totp_last_step = True, step
    account.last_signed_in_at = _now()
    await audit.record(
        session,
        tenant=PLATFORM_SCOPE,
        actor_id=f"platform:{account.id}",
        action="platform.first-sign-in",
        target=f"platform-account:{account.id}",
    )
    return account


async def platform_token(session: AsyncSession, *, settings: Settings, account: PlatformAccount) -> str:
    key = await tokens.current_signing_key(session)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.token_issuer,
        "aud": PLATFORM_AUDIENCE,
        "sub": str(account.id),
        "name": account.display_name,
        "iat": now,
        "exp": now + PLATFORM_TOKEN_TTL_S,
    }
    private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": key.kid})  # type: ignore[arg-type]


async def account_of_token(
    session: AsyncSession, *, settings: Settings, token: str
) -> PlatformAccount | None:
    """The active contractor a platform token names, or None (bad signature, expired, another audience)."""
    try:
        kid = str(jwt.get_unverified_header(token).get("kid", ""))
    except jwt.PyJWTError:
        return None
    keys = {k.kid: k for k in await tokens.repository.active_signing_keys(session)}
    if kid not in keys:
        return None
    public = jwt.PyJWK(tokens.public_jwk(keys[kid])).key
    try:
        claims = jwt.decode(
            token, key=public, algorithms=["EdDSA"], audience=PLATFORM_AUDIENCE, issuer=settings.token_issuer
        )
        account_id = UUID(str(claims["sub"]))
    except (jwt.PyJWTError, KeyError, ValueError):
        return None
    account = await repository.account(session, account_id)
    if account is None or account.status != "active" or account.must_change_password:
        return None
    return account
