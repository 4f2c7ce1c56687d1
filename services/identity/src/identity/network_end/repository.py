"""Queries of network operations and their steps. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import NetworkOperation, NetworkOperationStep


async def operation(
    session: AsyncSession, operation_id: UUID, *, for_update: bool = False
) -> NetworkOperation | None:
    return await session.get(NetworkOperation, operation_id, with_for_update=for_update)


async def operations_of(session: AsyncSession, slug: str) -> Sequence[NetworkOperation]:
    stmt = (
        sa.select(NetworkOperation)
        .where(NetworkOperation.network_slug == slug)
        .order_by(NetworkOperation.requested_at.desc(), NetworkOperation.id.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def steps_of(session: AsyncSession, operation_ids: Sequence[UUID]) -> Sequence[NetworkOperationStep]:
    if not operation_ids:
        return []
    stmt = (
        sa.select(NetworkOperationStep)
        .where(NetworkOperationStep.operation_id.in_(operation_ids))
        .order_by(NetworkOperationStep.service)
    )
    return (await session.execute(stmt)).scalars().all()


async def completed_export_since(
    session: AsyncSession, slug: str, since: datetime | None
) -> NetworkOperation | None:
    """The newest export of the network completed and requested at or after ``since`` (its suspension)."""
    stmt = sa.select(NetworkOperation).where(
        NetworkOperation.network_slug == slug,
        NetworkOperation.kind == "export",
        NetworkOperation.completed_at.is_not(None),
    )
    if since is not None:
        stmt = stmt.where(NetworkOperation.requested_at >= since)
    stmt = stmt.order_by(NetworkOperation.requested_at.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def open_end(session: AsyncSession, slug: str) -> NetworkOperation | None:
    stmt = (
        sa.select(NetworkOperation)
        .where(
            NetworkOperation.network_slug == slug,
            NetworkOperation.kind == "end",
            NetworkOperation.completed_at.is_(None),
        )
        .order_by(NetworkOperation.requested_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def complete_step(
    session: AsyncSession, *, operation_id: UUID, service: str, completed_at: datetime, report: dict[str, Any]
) -> bool:
    """Mark one service's part done; a replayed or repeated report changes nothing."""
    stmt = (
        sa.update(NetworkOperationStep)
        .where(
            NetworkOperationStep.operation_id == operation_id,
            NetworkOperationStep.service == service,
            NetworkOperationStep.completed_at.is_(None),
        )
        .values(completed_at=completed_at, report=report)
        .returning(NetworkOperationStep.service)
    )
    return (await session.execute(stmt)).first() is not None


async def pending_steps(session: AsyncSession, operation_id: UUID) -> int:
    stmt = sa.select(sa.func.count()).where(
        NetworkOperationStep.operation_id == operation_id, NetworkOperationStep.completed_at.is_(None)
    )
    return int(await session.scalar(stmt) or 0)
