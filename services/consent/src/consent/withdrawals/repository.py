"""Queries of withdrawals, their cascade steps and the network's withdrawal rule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, update
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
