"""Every query of the identity service. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Facility, IncidentReport, LoginSession, Network, SigningKey, Suspension, User


async def user_by_login(session: AsyncSession, *, tenant: str, login_id: str) -> User | None:
    stmt = select(User).where(User.tenant == tenant, User.login_id == login_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def active_signing_keys(session: AsyncSession) -> Sequence[SigningKey]:
    stmt = select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc())
    return (await session.execute(stmt)).scalars().all()


async def network(session: AsyncSession, slug: str) -> Network | None:
    return await session.get(Network, slug)


async def user_for_update(session: AsyncSession, *, tenant: str, login_id: str) -> User | None:
    """Locked so that concurrent failed attempts count one by one towards the lockout."""
    stmt = select(User).where(User.tenant == tenant, User.login_id == login_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def login_id_taken(session: AsyncSession, *, tenant: str, login_id: str) -> bool:
    user = select(User.id).where(User.tenant == tenant, User.login_id == login_id)
    pending = select(Facility.id).where(
        Facility.tenant == tenant, Facility.administrator_login_id == login_id, Facility.status == "applied"
    )
    return (await session.execute(user.union_all(pending).limit(1))).first() is not None


async def facilities(session: AsyncSession, *, tenant: str, status: str | None = None) -> Sequence[Facility]:
    stmt = select(Facility).where(Facility.tenant == tenant)
    if status:
        stmt = stmt.where(Facility.status == status)
    return (
        (await session.execute(stmt.order_by(Facility.applied_at.nulls_first(), Facility.name)))
        .scalars()
        .all()
    )


async def users(session: AsyncSession, *, tenant: str, facility_id: UUID | None = None) -> Sequence[User]:
    stmt = select(User).where(User.tenant == tenant)
    if facility_id:
        stmt = stmt.where(User.facility_id == facility_id)
    return (await session.execute(stmt.order_by(User.login_id))).scalars().all()


async def active_users_of_facility(session: AsyncSession, *, facility_id: UUID) -> Sequence[User]:
    stmt = select(User).where(User.facility_id == facility_id, User.status != "disabled").with_for_update()
    return (await session.execute(stmt)).scalars().all()


async def session_by_refresh_hash(session: AsyncSession, *, refresh_token_hash: str) -> LoginSession | None:
    stmt = select(LoginSession).where(LoginSession.refresh_token_hash == refresh_token_hash).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def sessions_of_user(session: AsyncSession, *, user_id: UUID) -> Sequence[LoginSession]:
    stmt = (
        select(LoginSession).where(LoginSession.user_id == user_id).order_by(LoginSession.created_at.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def open_sessions_of_user(session: AsyncSession, *, user_id: UUID) -> Sequence[LoginSession]:
    stmt = select(LoginSession).where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None))
    return (await session.execute(stmt.with_for_update())).scalars().all()


async def suspensions(session: AsyncSession, *, tenant: str, open_only: bool = False) -> Sequence[Suspension]:
    stmt = select(Suspension).where(Suspension.tenant == tenant)
    if open_only:
        stmt = stmt.where(Suspension.lifted_at.is_(None))
    return (await session.execute(stmt.order_by(Suspension.created_at.desc()))).scalars().all()


async def open_suspensions_of(
    session: AsyncSession, *, target_kind: str, target_id: UUID
) -> Sequence[Suspension]:
    stmt = select(Suspension).where(
        Suspension.target_kind == target_kind,
        Suspension.target_id == target_id,
        Suspension.lifted_at.is_(None),
    )
    return (await session.execute(stmt)).scalars().all()


async def incident_reports(
    session: AsyncSession,
    *,
    tenant: str,
    facility_id: UUID | None = None,
    reporter_id: UUID | None = None,
    statuses: tuple[str, ...] | None = None,
) -> Sequence[IncidentReport]:
    stmt = select(IncidentReport).where(IncidentReport.tenant == tenant)
    if facility_id:
        stmt = stmt.where(IncidentReport.facility_id == facility_id)
    if reporter_id:
        stmt = stmt.where(IncidentReport.reporter_id == reporter_id)
    if statuses:
        stmt = stmt.where(IncidentReport.status.in_(statuses))
    return (await session.execute(stmt.order_by(IncidentReport.created_at.desc()))).scalars().all()


async def all_signing_keys(session: AsyncSession) -> Sequence[SigningKey]:
    return (await session.execute(select(SigningKey).order_by(SigningKey.created_at.desc()))).scalars().all()
