"""Every query about the CA, client certificates and access codes. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import CertificateAccessCode, CertificateAuthority, ClientCertificate, Facility, User

# Serialises creating the deployment's CA on first use (several API and worker processes may race).
_CA_CREATION_LOCK = 7975690002


async def certificate_authority(session: AsyncSession) -> CertificateAuthority | None:
    stmt = select(CertificateAuthority).order_by(CertificateAuthority.created_at).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_certificate_authority_creation(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CA_CREATION_LOCK})


async def user_in_network(session: AsyncSession, *, tenant: str, user_id: UUID) -> User | None:
    stmt = select(User).where(User.id == user_id, User.tenant == tenant)
    return (await session.execute(stmt)).scalar_one_or_none()


async def facility_in_network(session: AsyncSession, *, tenant: str, facility_id: UUID) -> Facility | None:
    stmt = select(Facility).where(Facility.id == facility_id, Facility.tenant == tenant)
    return (await session.execute(stmt)).scalar_one_or_none()


async def access_code_for_update(
    session: AsyncSession, *, tenant: str, code_digest: str
) -> CertificateAccessCode | None:
    # FOR UPDATE: two redemptions of one code run one after the other, so only one can use it.
    stmt = (
        select(CertificateAccessCode)
        .where(CertificateAccessCode.tenant == tenant, CertificateAccessCode.code_digest == code_digest)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def supersede_active_access_codes(session: AsyncSession, *, user_id: UUID) -> None:
    await session.execute(
        update(CertificateAccessCode)
        .where(CertificateAccessCode.user_id == user_id, CertificateAccessCode.status == "active")
        .values(status="superseded")
    )


async def live_certificate_for_terminal(
    session: AsyncSession, *, facility_id: UUID, terminal_label: str
) -> ClientCertificate | None:
    stmt = select(ClientCertificate).where(
        ClientCertificate.facility_id == facility_id,
        ClientCertificate.terminal_label == terminal_label,
        ClientCertificate.revoked_at.is_(None),
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def certificate_in_network(
    session: AsyncSession, *, tenant: str, certificate_id: UUID, for_update: bool = False
) -> ClientCertificate | None:
    stmt = select(ClientCertificate).where(
        ClientCertificate.id == certificate_id, ClientCertificate.tenant == tenant
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def certificate_by_fingerprint(
    session: AsyncSession, *, fingerprint_sha256: str
) -> ClientCertificate | None:
    stmt = select(ClientCertificate).where(ClientCertificate.fingerprint_sha256 == fingerprint_sha256)
    return (await session.execute(stmt)).scalar_one_or_none()


async def certificates(
    session: AsyncSession,
    *,
    tenant: str,
    facility_id: UUID | None = None,
    user_id: UUID | None = None,
    include_revoked: bool = True,
) -> Sequence[ClientCertificate]:
    stmt = select(ClientCertificate).where(ClientCertificate.tenant == tenant)
    if facility_id is not None:
        stmt = stmt.where(ClientCertificate.facility_id == facility_id)
    if user_id is not None:
        stmt = stmt.where(ClientCertificate.user_id == user_id)
    if not include_revoked:
        stmt = stmt.where(ClientCertificate.revoked_at.is_(None))
    return (await session.execute(stmt.order_by(ClientCertificate.issued_at.desc()))).scalars().all()


async def live_certificates_for_update(
    session: AsyncSession, *, tenant: str, facility_id: UUID | None, user_id: UUID | None
) -> Sequence[ClientCertificate]:
    stmt = select(ClientCertificate).where(
        ClientCertificate.tenant == tenant, ClientCertificate.revoked_at.is_(None)
    )
    if facility_id is not None:
        stmt = stmt.where(ClientCertificate.facility_id == facility_id)
    if user_id is not None:
        stmt = stmt.where(ClientCertificate.user_id == user_id)
    return (await session.execute(stmt.with_for_update())).scalars().all()


async def revoked_serials(session: AsyncSession) -> Sequence[tuple[str, datetime, str]]:
    """Every revoked certificate of the deployment (the CA is one per deployment, so its CRL is too)."""
    stmt = (
        select(
            ClientCertificate.serial_number, ClientCertificate.revoked_at, ClientCertificate.revocation_reason
        )
        .where(ClientCertificate.revoked_at.is_not(None))
        .order_by(ClientCertificate.revoked_at)
    )
    return [(row[0], row[1], row[2] or "other") for row in (await session.execute(stmt)).all()]


async def revocation_state(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many certificates are revoked and the latest revocation: cheap to poll, changes with each one."""
    stmt = select(func.count(), func.max(ClientCertificate.revoked_at)).where(
        ClientCertificate.revoked_at.is_not(None)
    )
    count, latest = (await session.execute(stmt)).one()
    return int(count), latest
