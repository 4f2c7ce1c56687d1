"""Every query of notices, terms, acceptances and portal settings. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import Notice, PortalSettings, TermsAcceptance, TermsVersion


async def live_notices(
    session: AsyncSession, *, tenant: str, audiences: Sequence[str], limit: int = 100
) -> Sequence[Notice]:
    stmt = (
        select(Notice)
        .where(Notice.tenant == tenant, Notice.deleted_at.is_(None), Notice.audience.in_(audiences))
        .order_by(Notice.published_at.desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def banner_notices(
    session: AsyncSession,
    *,
    tenant: str,
    audiences: Sequence[str],
    kinds: Sequence[str],
    now: datetime,
    limit: int | None = 5,
) -> Sequence[Notice]:
    """Announced stops whose window has not ended (a discontinuation stays until its date has passed)."""
    stmt = (
        select(Notice)
        .where(
            Notice.tenant == tenant,
            Notice.deleted_at.is_(None),
            Notice.audience.in_(audiences),
            Notice.kind.in_(kinds),
            or_(Notice.ends_at.is_(None), Notice.ends_at > now),
            or_(Notice.kind != "discontinuation", Notice.starts_at > now),
        )
        .order_by(Notice.starts_at.asc().nulls_first(), Notice.published_at.desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def notice(session: AsyncSession, *, tenant: str, notice_id: UUID, lock: bool = False) -> Notice | None:
    stmt = select(Notice).where(Notice.tenant == tenant, Notice.id == notice_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def terms_versions(session: AsyncSession, *, tenant: str) -> Sequence[TermsVersion]:
    stmt = (
        select(TermsVersion).where(TermsVersion.tenant == tenant).order_by(TermsVersion.effective_at.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def terms_version(session: AsyncSession, *, tenant: str, version: str) -> TermsVersion | None:
    stmt = select(TermsVersion).where(TermsVersion.tenant == tenant, TermsVersion.version == version)
    return (await session.execute(stmt)).scalar_one_or_none()


async def terms_in_effect(session: AsyncSession, *, tenant: str, now: datetime) -> TermsVersion | None:
    stmt = (
        select(TermsVersion)
        .where(TermsVersion.tenant == tenant, TermsVersion.effective_at <= now)
        .order_by(TermsVersion.effective_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def unaccepted_terms(
    session: AsyncSession, *, tenant: str, user_id: UUID, now: datetime
) -> TermsVersion | None:
    """The version in effect when this user has not accepted it yet (one indexed query per staff request)."""
    in_effect = (
        select(TermsVersion)
        .where(TermsVersion.tenant == tenant, TermsVersion.effective_at <= now)
        .order_by(TermsVersion.effective_at.desc())
        .limit(1)
        .subquery()
    )
    stmt = (
        select(TermsVersion)
        .join(in_effect, in_effect.c.id == TermsVersion.id)
        .outerjoin(
            TermsAcceptance,
            (TermsAcceptance.terms_version_id == TermsVersion.id) & (TermsAcceptance.user_id == user_id),
        )
        .where(TermsAcceptance.id.is_(None))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def acceptance(
    session: AsyncSession, *, terms_version_id: UUID, user_id: UUID
) -> TermsAcceptance | None:
    stmt = select(TermsAcceptance).where(
        TermsAcceptance.terms_version_id == terms_version_id, TermsAcceptance.user_id == user_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def acceptances(
    session: AsyncSession, *, tenant: str, terms_version_id: UUID
) -> Sequence[TermsAcceptance]:
    stmt = (
        select(TermsAcceptance)
        .where(TermsAcceptance.tenant == tenant, TermsAcceptance.terms_version_id == terms_version_id)
        .order_by(TermsAcceptance.accepted_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def portal_settings(session: AsyncSession, *, tenant: str, lock: bool = False) -> PortalSettings | None:
    return await session.get(PortalSettings, tenant, with_for_update=lock)
