"""Every query of the public site's own rows (inquiries to the operator). Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import Inquiry


async def inquiries(session: AsyncSession, *, tenant: str, limit: int) -> Sequence[Inquiry]:
    """A network's inquiries, newest first."""
    stmt = select(Inquiry).where(Inquiry.tenant == tenant).order_by(Inquiry.received_at.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()
