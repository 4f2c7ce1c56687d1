"""Every query of the contractor's platform. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Facility, Network, PlatformAccount, SignInBackoff, User


async def networks(session: AsyncSession) -> Sequence[Network]:
    return (
        (await session.execute(sa.select(Network).order_by(Network.created_at, Network.slug))).scalars().all()
    )


async def network(session: AsyncSession, slug: str, *, for_update: bool = False) -> Network | None:
    return await session.get(Network, slug, with_for_update=for_update)


async def counts(session: AsyncSession, slug: str) -> tuple[int, int]:
    """How many facilities and users the network holds (shown on its page)."""
    facilities = await session.scalar(sa.select(sa.func.count()).where(Facility.tenant == slug))
    users = await session.scalar(sa.select(sa.func.count()).where(User.tenant == slug))
    return int(facilities or 0), int(users or 0)


async def login_id_taken(session: AsyncSession, *, tenant: str, login_id: str) -> bool:
    found = await session.scalar(sa.select(User.id).where(User.tenant == tenant, User.login_id == login_id))
    return found is not None


async def account_by_login(
    session: AsyncSession, login_id: str, *, for_update: bool = False
) -> PlatformAccount | None:
    stmt = sa.select(PlatformAccount).where(PlatformAccount.login_id == login_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def account(session: AsyncSession, account_id: object) -> PlatformAccount | None:
    return await session.get(PlatformAccount, account_id)


async def backoff_for_update(session: AsyncSession, *, scope: str, login_id: str) -> SignInBackoff | None:
    return await session.get(SignInBackoff, (scope, login_id), with_for_update=True)
