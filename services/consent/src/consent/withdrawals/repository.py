"""Queries of withdrawals, their cascade steps and the network's withdrawal rule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from consent.models import CascadeStep, Network, Withdrawal


async def network(session: AsyncSession, *, tenant: str) -> Network | None:
    return await session.get(Network, tenant)


async def withdrawals_of(session: AsyncSession, *, subject_id: UUID) -> Sequence[Withdrawal]:
    stmt = (
        select(Withdrawal).where(Withdrawal.subject_id == subject_id).order_by(Withdrawal.requested_at.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def cascade_steps(session: AsyncSession, *, withdrawal_ids: Sequence[UUID]) -> Sequence[CascadeStep]:
    stmt = (
        select(CascadeStep).where(CascadeStep.withdrawal_id.in_(withdrawal_ids)).order_by(CascadeStep.service)
    )
    return (await session.execute(stmt)).scalars().all()


async def incomplete_withdrawals(session: AsyncSession, *, tenant: str) -> Sequence[Withdrawal]:
    pending = select(CascadeStep.withdrawal_id).where(CascadeStep.status == "pending")
    stmt = (
        select(Withdrawal)
        .where(Withdrawal.tenant == tenant, Withdrawal.id.in_(pending))
        .order_by(Withdrawal.requested_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def incomplete_backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """Across every network: how many withdrawals still have a pending step, and when the oldest was asked."""
    pending = select(CascadeStep.withdrawal_id).where(CascadeStep.status == "pending")
    stmt = select(func.count(), func.min(Withdrawal.requested_at)).where(Withdrawal.id.in_(pending))
    count, oldest = (await session.execute(stmt)).one()
    return int(count), oldest


async def complete_step(
    session: AsyncSession, *, withdrawal_id: UUID, service: str, completed_at: datetime, items_affected: int
) -> bool:
    """Mark one service's step done; a replay of the same report changes nothing."""
    stmt = (
        update(CascadeStep)
        .where(
            CascadeStep.withdrawal_id == withdrawal_id,
            CascadeStep.service == service,
            CascadeStep.status == "pending",
        )
        .values(status="done", completed_at=completed_at, items_affected=items_affected)
        .returning(CascadeStep.service)
    )
    return (await session.execute(stmt)).first() is not None


async def upsert_peer_step(
    session: AsyncSession,
    *,
    withdrawal_id: UUID,
    service: str,
    done: bool,
    at: datetime,
    items_affected: int | None,
) -> None:
    """Create a peer's step (pending or done) or complete it; a done step never goes back to pending, so the
    two reports may arrive in either order."""
    statement = insert(CascadeStep).values(
        withdrawal_id=withdrawal_id,
        service=service,
        status="done" if done else "pending",
        started_at=at,
        completed_at=at if done else None,
        items_affected=items_affected if done else None,
    )
    if done:
        statement = statement.on_conflict_do_update(
            index_elements=[CascadeStep.withdrawal_id, CascadeStep.service],
            set_={"status": "done", "completed_at": at, "items_affected": items_affected},
            where=CascadeStep.status == "pending",
        )
    else:
        statement = statement.on_conflict_do_nothing()
    await session.execute(statement)


async def pending_peer_steps_since(session: AsyncSession, *, prefix: str, before: datetime) -> int:
    stmt = select(func.count()).where(
        CascadeStep.service.startswith(prefix),
        CascadeStep.status == "pending",
        CascadeStep.started_at < before,
    )
    return int((await session.execute(stmt)).scalar_one())
