"""Every query about staff accounts. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Facility, User


async def user_for_update(session: AsyncSession, *, tenant: str, login_id: str) -> User | None:
    """Locked so that concurrent failed attempts count one by one towards the lockout."""
    stmt = select(User).where(User.tenant == tenant, User.login_id == login_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def login_id_taken(session: AsyncSession, *, tenant: str, login_id: str) -> bool:
    """Taken by a user, or promised to the administrator of a facility whose application is pending."""
    user = select(User.id).where(User.tenant == tenant, User.login_id == login_id)
    pending = select(Facility.id).where(
        Facility.tenant == tenant, Facility.administrator_login_id == login_id, Facility.status == "applied"
    )
    return (await session.execute(user.union_all(pending).limit(1))).first() is not None


async def users(session: AsyncSession, *, tenant: str, facility_id: UUID | None = None) -> Sequence[User]:
    stmt = select(User).where(User.tenant == tenant)
    if facility_id:
        stmt = stmt.where(User.facility_id == facility_id)
    return (await session.execute(stmt.order_by(User.login_id))).scalars().all()


async def active_users_of_facility(session: AsyncSession, *, facility_id: UUID) -> Sequence[User]:
    stmt = select(User).where(User.facility_id == facility_id, User.status != "disabled").with_for_update()
    return (await session.execute(stmt)).scalars().all()
