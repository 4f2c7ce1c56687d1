"""Client-certificate use cases: access codes, issuing, listing, revoking, login binding. Never commits."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from cryptography import x509
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.auth import Principal
from yui_common.events.identity import CertificateIssuedV1, CertificateRevokedV1
from yui_common.problems import Problem, conflict, not_found

from identity import audit_trail, ca
from identity.auth import FACILITY_ADMIN, manages_network
from identity.certificates import repository
from identity.certificates.authority import certificate_authority
from identity.models import CertificateAccessCode, ClientCertificate, Facility, User
from identity.passwords import hash_password, verify_password
from identity.revocations import service as revocations
from identity.settings import Settings, environment_settings

# Crockford's base32: no I, L, O or U, so a code copied from paper by hand is not misread.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 20  # 100 random bits
PIN_DIGITS = 8


@dataclass(frozen=True)
class AccessCodeGrant:
    """What the administrator is told once (by letter or on screen); only digests are kept."""

    access_code_id: UUID
    access_code: str
    pin: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: ClientCertificate
    pkcs12: bytes


@dataclass(frozen=True)
class LoginCertificate:
    """A presented certificate that belongs to a user: login puts the fingerprint in the token (`cnf`)."""

    certificate_id: UUID
    user_id: UUID
    facility_id: UUID
    fingerprint_sha256: str


# --- access codes (I2, To8-1/2) -----------------------------------------------------------------------------


def normalise_access_code(typed: str) -> str:
    """What a person types: any case, with or without hyphens and spaces, O for 0 and I or L for 1."""
    cleaned = typed.upper().replace("-", "").replace(" ", "")
    return cleaned.translate(str.maketrans("OIL", "011"))


def access_code_digest(code: str) -> str:
    return hashlib.sha256(normalise_access_code(code).encode()).hexdigest()


def _new_access_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 5] for i in range(0, CODE_LENGTH, 5))


async def issue_access_code(
    session: AsyncSession,
    *,
    facility_id: UUID,
    administrator_user_id: UUID,
    actor_id: str = "system",
    valid_for: timedelta | None = None,
    attempt_limit: int | None = None,
    settings: Settings | None = None,
) -> AccessCodeGrant:
    """Give a facility's administrator an access code and PIN for their first certificate (on approval).

    Single use, expiring (default 72 h) and attempt-limited (default 5 wrong PINs); a new grant supersedes
    the user's unused ones. Raises ``not_found`` when the user is not that facility's.
    """
    settings = settings or environment_settings()
    user = await session.get(User, administrator_user_id)
    if user is None or user.facility_id != facility_id:
        raise not_found("administrator")
    await repository.supersede_active_access_codes(session, user_id=user.id)
    code = _new_access_code()
    pin = f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"
    expires_at = datetime.now(UTC) + (valid_for or timedelta(hours=settings.access_code_valid_hours))
    row = CertificateAccessCode(
        tenant=user.tenant,
        facility_id=facility_id,
        user_id=user.id,
        code_digest=access_code_digest(code),
        pin_hash=await asyncio.to_thread(hash_password, pin),
        expires_at=expires_at,
        attempts_left=attempt_limit or settings.access_code_attempts,
        status="active",
        issued_by=actor_id,
    )
    session.add(row)
    await session.flush()
    await audit_trail.record(
        session,
        "certificate.access-code.issued",
        by=actor_id,
        on=user,
        detail={"access_code_id": str(row.id), "expires_at": expires_at.isoformat()},
    )
    return AccessCodeGrant(row.id, code, pin, expires_at)


async def issue_access_code_to_administrator(
    session: AsyncSession, *, principal: Principal, facility_id: UUID, administrator_user_id: UUID
) -> AccessCodeGrant:
    """An operator gives a facility's administrator a new access code (the first expired, was locked or lost)."""
    facility = await repository.facility_in_network(session, tenant=principal.tenant, facility_id=facility_id)
    if facility is None:
        raise not_found("facility")
    return await issue_access_code(
        session,
        facility_id=facility.id,
        administrator_user_id=administrator_user_id,
        actor_id=str(principal.user_id),
    )


def _access_code_refused(status: int, slug: str, detail: str, **extensions: object) -> Problem:
    return Problem(status, slug, "Access code refused", detail, **extensions)


async def redeem_access_code(
    session: AsyncSession,
    *,
    tenant: str,
    access_code: str,
    pin: str,
    terminal_label: str,
    settings: Settings | None = None,
) -> IssuedCertificate | Problem:
    """Exchange an access code and its PIN for the administrator's certificate (PKCS#12 protected by the PIN).

    A refusal is returned, not raised: the request must still commit the spent attempt and its audit entry.
    """
    settings = settings or environment_settings()
    row = await repository.access_code_for_update(
        session, tenant=tenant, code_digest=access_code_digest(access_code)
    )
    if row is None:
        # The code is 100 random bits: an unknown one is a typo or a guess, and tells nothing about any row.
        await audit.record(
            session, tenant=tenant, actor_id="anonymous", action="certificate.access-code.unknown"
        )
        return _access_code_refused(401, "access-code-rejected", "The access code or PIN is wrong.")
    refusal = _why_unusable(row)
    if refusal is not None:
        await _audit_code(session, row, "certificate.access-code.refused", {"why": refusal.slug})
        return refusal
    if not await asyncio.to_thread(verify_password, row.pin_hash, pin):
        row.attempts_left -= 1
        if row.attempts_left <= 0:
            row.status = "locked"
        await _audit_code(
            session, row, "certificate.access-code.wrong-pin", {"attempts_left": row.attempts_left}
        )
        if row.status == "locked":
            return _access_code_refused(
                423, "access-code-locked", "Too many wrong PINs: ask for a new access code."
            )
        return _access_code_refused(
            401, "access-code-rejected", "The access code or PIN is wrong.", attempts_left=row.attempts_left
        )
    user = await session.get(User, row.user_id)
    facility = await session.get(Facility, row.facility_id)
    if user is None or facility is None or user.status != "active" or facility.status != "active":
        await _audit_code(session, row, "certificate.access-code.refused", {"why": "account-not-active"})
        return _access_code_refused(409, "account-not-active", "The account or facility is not active.")
    if await repository.live_certificate_for_terminal(
        session, facility_id=facility.id, terminal_label=terminal_label
    ):
        return _terminal_taken()
    issued = await _issue(
        session,
        settings=settings,
        user=user,
        facility=facility,
        terminal_label=terminal_label,
        pin=pin,
        actor_id=str(user.id),
    )
    row.status = "used"
    row.used_at = datetime.now(UTC)
    row.certificate_id = issued.certificate.id
    await _audit_code(
        session, row, "certificate.access-code.redeemed", {"certificate_id": str(issued.certificate.id)}
    )
    return issued


def _why_unusable(row: CertificateAccessCode) -> Problem | None:
    if row.status == "used":
        return _access_code_refused(410, "access-code-used", "This access code has already been used.")
    if row.status == "superseded":
        return _access_code_refused(410, "access-code-superseded", "A newer access code replaced this one.")
    if row.status == "locked":
        return _access_code_refused(
            423, "access-code-locked", "Too many wrong PINs: ask for a new access code."
        )
    if row.expires_at <= datetime.now(UTC):
        return _access_code_refused(
            410, "access-code-expired", "This access code has expired: ask for a new one."
        )
    return None


async def _audit_code(
    session: AsyncSession, row: CertificateAccessCode, action: str, detail: dict[str, object]
) -> None:
    await audit.record(
        session,
        tenant=row.tenant,
        actor_id=f"access-code:{row.id}",
        facility_id=str(row.facility_id),
        action=action,
        target=f"user:{row.user_id}",
        detail={"access_code_id": str(row.id), **detail},
    )


# --- certificates -------------------------------------------------------------------------------------------


def _terminal_taken() -> Problem:
    return conflict(
        "This terminal already has a live certificate: revoke it first.", slug="terminal-has-certificate"
    )


async def _issue(
    session: AsyncSession,
    *,
    settings: Settings,
    user: User,
    facility: Facility,
    terminal_label: str,
    pin: str,
    actor_id: str,
) -> IssuedCertificate:
    authority = await certificate_authority(session, settings=settings)

    def make() -> tuple[x509.Certificate, bytes]:
        certificate, key = ca.issue_client_certificate(
            authority,
            network=user.tenant,
            facility_name=facility.name,
            terminal_label=terminal_label,
            user_id=str(user.id),
            valid_for=timedelta(days=settings.client_certificate_valid_days),
        )
        bundle = ca.pkcs12_bundle(
            authority, certificate, key, friendly_name=f"Yui {facility.name} {terminal_label}", pin=pin
        )
        return certificate, bundle

    certificate, bundle = await asyncio.to_thread(make)
    row = ClientCertificate(
        tenant=user.tenant,
        facility_id=facility.id,
        user_id=user.id,
        terminal_label=terminal_label,
        serial_number=ca.serial_hex(certificate.serial_number),
        fingerprint_sha256=ca.fingerprint_sha256(certificate),
        certificate_pem=ca.certificate_pem(certificate),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        issued_at=datetime.now(UTC),
        issued_by=actor_id,
    )
    session.add(row)
    await session.flush()
    await audit_trail.record(
        session,
        "certificate.issued",
        by=actor_id,
        on=row,
        detail={
            "user_id": str(user.id),
            "terminal_label": terminal_label,
            "serial_number": row.serial_number,
        },
    )
    await outbox.add_event(
        session,
        CertificateIssuedV1(
            certificate_id=row.id,
            user_id=user.id,
            facility_id=facility.id,
            terminal_label=terminal_label,
            serial_number=row.serial_number,
            fingerprint_sha256=row.fingerprint_sha256,
            not_after=row.not_after,
        ),
        tenant=user.tenant,
    )
    return IssuedCertificate(row, bundle)


def _require_facility_admin(principal: Principal) -> UUID:
    # 403, not 404: the endpoint's existence is public (OpenAPI) and the refusal names no resource.
    if not principal.has_role(FACILITY_ADMIN) or principal.facility_id is None:
        raise Problem(403, "forbidden", "Forbidden", "Only a facility administrator may do this.")
    return principal.facility_id


async def issue_certificate(
    session: AsyncSession,
    *,
    principal: Principal,
    user_id: UUID,
    terminal_label: str,
    pin: str,
    settings: Settings | None = None,
) -> IssuedCertificate | Problem:
    """An administrator issues another certificate, for one terminal, to a user of their facility (To8-4)."""
    facility_id = _require_facility_admin(principal)
    user = await repository.user_in_network(session, tenant=principal.tenant, user_id=user_id)
    if user is None or user.facility_id != facility_id:
        raise not_found("user")
    facility = await repository.facility_in_network(session, tenant=principal.tenant, facility_id=facility_id)
    if facility is None or facility.status != "active" or user.status != "active":
        raise conflict("The user or facility is not active.", slug="account-not-active")
    if await repository.live_certificate_for_terminal(
        session, facility_id=facility_id, terminal_label=terminal_label
    ):
        return _terminal_taken()
    return await _issue(
        session,
        settings=settings or environment_settings(),
        user=user,
        facility=facility,
        terminal_label=terminal_label,
        pin=pin,
        actor_id=str(principal.user_id),
    )


async def list_certificates(
    session: AsyncSession,
    *,
    principal: Principal,
    facility_id: UUID | None = None,
    user_id: UUID | None = None,
    include_revoked: bool = True,
) -> list[ClientCertificate]:
    """A facility administrator sees their facility's certificates; operators and contractors any one's."""
    if manages_network(principal):
        scope = facility_id
    else:
        own = _require_facility_admin(principal)
        if facility_id is not None and facility_id != own:
            raise not_found("facility")
        scope = own
    found = await repository.certificates(
        session, tenant=principal.tenant, facility_id=scope, user_id=user_id, include_revoked=include_revoked
    )
    await audit.record_by(
        session,
        principal,
        action="certificate.listed",
        target=f"facility:{scope}" if scope else "network",
        detail={"count": len(found)},
    )
    return list(found)


async def get_certificate(
    session: AsyncSession, *, principal: Principal, certificate_id: UUID
) -> ClientCertificate:
    own = None if manages_network(principal) else _require_facility_admin(principal)
    certificate = await repository.certificate_in_network(
        session, tenant=principal.tenant, certificate_id=certificate_id
    )
    if certificate is None or (own is not None and certificate.facility_id != own):
        raise not_found("certificate")
    await audit_trail.record(session, "certificate.read", by=principal, on=certificate)
    return certificate


async def revoke_certificate(
    session: AsyncSession, *, principal: Principal, certificate_id: UUID, reason: str, note: str | None = None
) -> ClientCertificate:
    """Revoke a certificate (lost or retired terminal, user left...); the CRL and services follow."""
    own = None if manages_network(principal) else _require_facility_admin(principal)
    certificate = await repository.certificate_in_network(
        session, tenant=principal.tenant, certificate_id=certificate_id, for_update=True
    )
    if certificate is None or (own is not None and certificate.facility_id != own):
        raise not_found("certificate")
    if certificate.revoked_at is not None:
        raise conflict("The certificate is already revoked.", slug="certificate-already-revoked")
    actor = str(principal.user_id)
    await _revoke(session, certificate, reason=reason, note=note, actor_id=actor, awaited=True)
    return certificate


async def revoke_certificates(
    session: AsyncSession,
    *,
    tenant: str,
    reason: str,
    actor_id: str,
    facility_id: UUID | None = None,
    user_id: UUID | None = None,
    note: str | None = None,
) -> int:
    """Revoke every live certificate of a facility or a user (withdrawal, abolition, user disabled)."""
    if facility_id is None and user_id is None:
        raise ValueError("name a facility or a user")
    live = await repository.live_certificates_for_update(
        session, tenant=tenant, facility_id=facility_id, user_id=user_id
    )
    for certificate in live:
        await _revoke(session, certificate, reason=reason, note=note, actor_id=actor_id)
    return len(live)


async def _revoke(
    session: AsyncSession,
    certificate: ClientCertificate,
    *,
    reason: str,
    note: str | None,
    actor_id: str,
    awaited: bool = False,
) -> None:
    """``awaited``: the request waits until every service refuses the certificate's tokens (revoking one
    certificate); a facility's or user's closing waits for its own revocation instead."""
    if reason not in ca.REVOCATION_REASONS:
        raise ValueError(f"unknown revocation reason {reason!r}")
    certificate.revoked_at = datetime.now(UTC)
    certificate.revocation_reason = reason
    certificate.revocation_note = note
    certificate.revoked_by = actor_id
    await session.flush()
    await audit_trail.record(
        session,
        "certificate.revoked",
        by=actor_id,
        on=certificate,
        detail={
            "user_id": str(certificate.user_id),
            "reason": reason,
            "serial_number": certificate.serial_number,
        },
    )
    revoked = CertificateRevokedV1(
        certificate_id=certificate.id,
        user_id=certificate.user_id,
        facility_id=certificate.facility_id,
        serial_number=certificate.serial_number,
        fingerprint_sha256=certificate.fingerprint_sha256,
        reason=reason,
        revoked_at=certificate.revoked_at,
    )
    if awaited:
        await revocations.revoke_everywhere(
            session, revoked, tenant=certificate.tenant, reason=f"certificate-{reason}", requested_by=actor_id
        )
    else:
        await revocations.announce(session, revoked, tenant=certificate.tenant)


# --- login (S1, i12) ----------------------------------------------------------------------------------------


async def certificate_for_login(
    session: AsyncSession, *, tenant: str, fingerprint_sha256: str | None
) -> LoginCertificate | None:
    """The user a gateway-verified certificate belongs to, or None (unknown, revoked, expired, other network).

    This is a second factor only: the login that calls it has already checked the password, and must also
    check that the returned user is the one who gave it. Nothing issues a token on a certificate alone (S1).
    The database, not only the gateway's CRL, decides: a revocation counts before the CRL is refreshed.
    """
    if not fingerprint_sha256:
        return None
    certificate = await repository.certificate_by_fingerprint(
        session, fingerprint_sha256=fingerprint_sha256.lower()
    )
    now = datetime.now(UTC)
    if (
        certificate is None
        or certificate.tenant != tenant
        or certificate.revoked_at is not None
        or not certificate.not_before <= now < certificate.not_after
    ):
        return None
    return LoginCertificate(
        certificate.id, certificate.user_id, certificate.facility_id, certificate.fingerprint_sha256
    )
