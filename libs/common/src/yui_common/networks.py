"""Every service's projection of identity's networks (issue 11): their rules, and whether one is suspended.

Identity owns networks. Each of its network events (``identity.network-created|settings-changed|suspended|
resumed.v1``) carries the network's whole state with a version; every service's worker keeps the newest in
its own ``network_states`` table (one queue per service, ``<svc>.networks``, inbox-guarded), created by
``migrate`` like the deny list. The services read their network's rules from it (consent the municipalities
and the withdrawal mode, timeline the retention and the attachment limit, the portal the notice period), and
the deny-list query of every request (``yui_common.revocations.revoked_kind``) also refuses a token whose
network is suspended, in the same statement: a suspension costs no extra round trip.

Each change sends ``pg_notify('yui_networks', tenant)`` in its transaction, so a process that caches what it
read (the portal's gate) drops it at the commit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope, EventData
from yui_common.events.identity import (
    NetworkCreatedV1,
    NetworkResumedV1,
    NetworkSettingsChangedV1,
    NetworkStateV1,
    NetworkSuspendedV1,
)
from yui_common.problems import Problem
from yui_common.schema import network_states_table

CHANNEL = "yui_networks"
ACTIVE, SUSPENDED = "active", "suspended"
NETWORK_EVENTS: tuple[type[NetworkStateV1], ...] = (
    NetworkCreatedV1,
    NetworkSettingsChangedV1,
    NetworkSuspendedV1,
    NetworkResumedV1,
)

SUSPENDED_TITLE = "Network suspended"
SUSPENDED_DETAIL = (
    "このネットワークは契約事業者により一時停止されています。データは削除されていません。"
    "再開まで利用できません。運営事務局にお問い合わせください。 / "
    "This network is suspended by its contractor. Nothing was deleted; it cannot be used until it is resumed. "
    "Please contact the network's operator."
)


_table = network_states_table(sa.MetaData())

# Newest version wins; equal versions (a redelivery) change nothing.
# An ended network (yui_common.network_export) is never known again, whatever event comes late.
_UPSERT = sa.text(
    "INSERT INTO network_states AS n (tenant, name, status, version, state, updated_at) "
    "SELECT CAST(:tenant AS varchar), CAST(:name AS varchar), CAST(:status AS varchar), "
    "CAST(:version AS bigint), CAST(:state AS jsonb), now() "
    "WHERE NOT EXISTS (SELECT 1 FROM ended_networks WHERE slug = CAST(:tenant AS varchar)) "
    "ON CONFLICT (tenant) DO UPDATE SET name = excluded.name, status = excluded.status, "
    "version = excluded.version, state = excluded.state, updated_at = now() "
    "WHERE excluded.version > n.version"
)
_NOTIFY = sa.text("SELECT pg_notify(:channel, :tenant)")
_STATE = sa.text("SELECT state FROM network_states WHERE tenant = :tenant")
# Suspended, or being ended or ended (issue 11, yui_common.network_export): refused alike.
_SUSPENDED = sa.text(
    "SELECT EXISTS (SELECT 1 FROM network_states WHERE tenant = :tenant AND status <> 'active') "
    "OR EXISTS (SELECT 1 FROM ended_networks WHERE slug = :tenant)"
)


def ensure_table(dsn: str) -> None:
    """Create the projection in a service's database (idempotent; part of `migrate`). Blocking."""

    async def create() -> None:
        engine = create_async_engine(dsn, poolclass=sa.pool.NullPool)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(lambda sync: _table.create(sync, checkfirst=True))
        finally:
            await engine.dispose()

    asyncio.run(create())


async def apply(session: AsyncSession, tenant: str, state: NetworkStateV1) -> None:
    """Keep ``state`` unless a newer version is already held (in the caller's transaction)."""
    await session.execute(
        _UPSERT,
        {
            "tenant": tenant,
            "name": state.name,
            "status": state.status,
            "version": state.version,
            "state": state.model_dump_json(),
        },
    )
    await session.execute(_NOTIFY, {"channel": CHANNEL, "tenant": tenant})


async def state_of(session: AsyncSession, tenant: str) -> NetworkStateV1 | None:
    """The network as this service knows it; None for a network it was never told of (the demo seed's)."""
    found: Any = (await session.execute(_STATE, {"tenant": tenant})).scalar_one_or_none()
    if found is None:
        return None
    # A text() statement leaves jsonb undecoded (a str); a typed one decodes it.
    return (
        NetworkStateV1.model_validate_json(found)
        if isinstance(found, str | bytes)
        else NetworkStateV1.model_validate(found)
    )


async def is_suspended(session: AsyncSession, tenant: str) -> bool:
    return bool((await session.execute(_SUSPENDED, {"tenant": tenant})).scalar_one_or_none())


def network_suspended() -> Problem:
    """The one answer of every service to a suspended network's requests (and identity's to its sign-in)."""
    return Problem(403, "network-suspended", SUSPENDED_TITLE, SUSPENDED_DETAIL)


def subscription(service_name: str) -> Subscription:
    """The projection's consumer every service's worker runs (added by `yui_common.worker.Worker`)."""

    async def handle(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, NetworkStateV1)
        await apply(session, envelope.tenant, data)

    return Subscription(
        queue=f"{service_name}.networks",
        handlers={event_type.event_type: handle for event_type in NETWORK_EVENTS},
    )
