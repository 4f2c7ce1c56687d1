"""Every query about token-signing keys. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import SigningKey


async def active_signing_keys(session: AsyncSession) -> Sequence[SigningKey]:
    stmt = select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.created_at.desc())
    return (await session.execute(stmt)).scalars().all()
