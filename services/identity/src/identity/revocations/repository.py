"""Every query about revocations and their acknowledgements. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import Row, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Revocation, RevocationStep


async def step_rows(
    session: AsyncSession, *, revocation_ids: Sequence[UUID]
) -> Sequence[Row[tuple[UUID, str, datetime | None]]]:
    """Plain rows, not entities: a waiting router reads them between commits of the request's session."""
    stmt = select(RevocationStep.revocation_id, RevocationStep.service, RevocationStep.applied_at).where(
        RevocationStep.revocation_id.in_(revocation_ids)
    )
    return (await session.execute(stmt)).all()


async def steps_of(session: AsyncSession, *, revocation_ids: Sequence[UUID]) -> Sequence[RevocationStep]:
    stmt = (
        select(RevocationStep)
        .where(RevocationStep.revocation_id.in_(revocation_ids))
        .order_by(RevocationStep.service)
    )
    return (await session.execute(stmt)).scalars().all()


async def incomplete_revocations(session: AsyncSession, *, tenant: str) -> Sequence[Revocation]:
    pending = exists().where(
        RevocationStep.revocation_id == Revocation.id, RevocationStep.applied_at.is_(None)
    )
    stmt = select(Revocation).where(Revocation.tenant == tenant, pending).order_by(Revocation.requested_at)
    return (await session.execute(stmt)).scalars().all()


async def mark_applied(
    session: AsyncSession, *, revocation_id: UUID, service: str, applied_at: datetime
) -> bool:
    """One service's acknowledgement; a replay (or a service nobody waited for) changes nothing."""
    stmt = (
        update(RevocationStep)
        .where(
            RevocationStep.revocation_id == revocation_id,
            RevocationStep.service == service,
            RevocationStep.applied_at.is_(None),
        )
        .values(applied_at=applied_at)
        .returning(RevocationStep.service)
    )
    return (await session.execute(stmt)).first() is not None


async def delete_settled_before(session: AsyncSession, *, before: datetime) -> int:
    """Revocations every service acknowledged, requested before ``before`` (their steps go with them)."""
    pending = exists().where(
        RevocationStep.revocation_id == Revocation.id, RevocationStep.applied_at.is_(None)
    )
    stmt = delete(Revocation).where(Revocation.requested_at < before, ~pending).returning(Revocation.id)
    return len((await session.execute(stmt)).all())
