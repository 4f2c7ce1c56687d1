"""Every query about networks. Takes the session; never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Network


async def network(session: AsyncSession, slug: str, *, for_update: bool = False) -> Network | None:
    return await session.get(Network, slug, with_for_update=for_update)
