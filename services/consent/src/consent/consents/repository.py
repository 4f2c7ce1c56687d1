"""Queries of consents."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from consent.models import Consent


async def active_consent(session: AsyncSession, *, subject_id: UUID, lock: bool = False) -> Consent | None:
    stmt = select(Consent).where(Consent.subject_id == subject_id, Consent.status == "active")
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def latest_consent(session: AsyncSession, *, subject_id: UUID) -> Consent | None:
    stmt = (
        select(Consent).where(Consent.subject_id == subject_id).order_by(Consent.recorded_at.desc()).limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def consents_of(session: AsyncSession, *, subject_id: UUID) -> Sequence[Consent]:
    stmt = select(Consent).where(Consent.subject_id == subject_id).order_by(Consent.recorded_at.desc())
    return (await session.execute(stmt)).scalars().all()


async def consent_of_subject(
    session: AsyncSession, *, subject_id: UUID, consent_id: UUID, lock: bool = False
) -> Consent | None:
    stmt = select(Consent).where(Consent.id == consent_id, Consent.subject_id == subject_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
