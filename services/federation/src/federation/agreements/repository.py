"""Every query of agreements. Takes the session, never commits."""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from federation.models import Agreement


async def of_network(session: AsyncSession, tenant: str) -> list[Agreement]:
    found = await session.scalars(
        sa.select(Agreement).where(Agreement.tenant == tenant).order_by(Agreement.created_at.desc())
    )
    return list(found)


async def get(
    session: AsyncSession, tenant: str, agreement_id: UUID, *, for_update: bool = False
) -> Agreement | None:
    query = sa.select(Agreement).where(Agreement.tenant == tenant, Agreement.id == agreement_id)
    if for_update:
        query = query.with_for_update()
    found: Agreement | None = (await session.scalars(query)).one_or_none()
    return found


async def with_peer(session: AsyncSession, tenant: str, peer_source: str) -> list[Agreement]:
    """Every agreement of one of our networks with one peer network, newest first."""
    found = await session.scalars(
        sa.select(Agreement)
        .where(Agreement.tenant == tenant, Agreement.peer_source == peer_source)
        .order_by(Agreement.created_at.desc())
    )
    return list(found)


async def newest_seal(session: AsyncSession) -> tuple[int, str] | None:
    """This service's newest audit seal: its number and head (yui_common.audit_seal)."""
    row = (
        await session.execute(sa.text("SELECT number, head FROM audit_seals ORDER BY number DESC LIMIT 1"))
    ).first()
    return (int(row.number), str(row.head)) if row else None
