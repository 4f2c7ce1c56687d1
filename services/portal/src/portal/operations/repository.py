"""Every query of the maintenance switch's history, and the gate's change notification. Takes the session;
never commits."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from portal.models import ALL_NETWORKS, MaintenanceSwitch

# What the portal's gate caches changed (operations/gate_cache.py LISTENs on it).
GATE_CHANNEL = "portal_gate"
# One lock for all switches: two operators switching at once leave one clear order of rows.
_SWITCH_LOCK = 0x7975695F6D61696E  # "yui_main"


async def latest_switches(session: AsyncSession, scopes: tuple[str, ...]) -> list[MaintenanceSwitch]:
    """The newest switch of each of these scopes (a network's slug, or the whole deployment)."""
    newest = (
        select(MaintenanceSwitch.scope, func.max(MaintenanceSwitch.switched_at).label("at"))
        .where(MaintenanceSwitch.scope.in_(scopes))
        .group_by(MaintenanceSwitch.scope)
        .subquery()
    )
    stmt = select(MaintenanceSwitch).join(
        newest, (newest.c.scope == MaintenanceSwitch.scope) & (newest.c.at == MaintenanceSwitch.switched_at)
    )
    return list((await session.execute(stmt)).scalars().all())


async def switch_history(session: AsyncSession, *, tenant: str, limit: int) -> list[MaintenanceSwitch]:
    """A network's switches and the whole deployment's, newest first."""
    stmt = (
        select(MaintenanceSwitch)
        .where(MaintenanceSwitch.scope.in_((tenant, ALL_NETWORKS)))
        .order_by(MaintenanceSwitch.switched_at.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars().all())


async def lock_switching(session: AsyncSession) -> None:
    """Until the transaction ends, nobody else switches (a transaction-scoped advisory lock)."""
    await session.execute(select(func.pg_advisory_xact_lock(_SWITCH_LOCK)))


async def notify_gate_change(session: AsyncSession, what: str) -> None:
    """A NOTIFY that PostgreSQL delivers when this transaction commits (never when it rolls back)."""
    await session.execute(text("SELECT pg_notify(:channel, :what)"), {"channel": GATE_CHANNEL, "what": what})
