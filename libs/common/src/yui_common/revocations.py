"""The event-fed deny list every service keeps: suspended users, disabled facilities, ended sessions and
revoked certificates.

Access tokens are verified locally and live for minutes, so identity's revocations must reach each service
before the token expires. Each service's worker consumes identity's events into its own `revoked_principals`
table (one queue per service, `<svc>.revocations`, inbox-guarded like every consumer); the API process checks
a token against that table with one indexed query in `yui_common.auth.current_principal`. An entry outlives
every token it could concern (`KEEP_FOR`) and is then purged.

A suspension and its reinstatement reach a consumer in any order: retries and parallel batches reorder them
(rel1's soak found deny lists disagreeing with identity). So each (kind, value) is one row and the later event
by identity's time wins: a revocation records `revoked_at` unless a later lift is recorded, a reinstatement
records `lifted_at` (a tombstone, purged like an entry) unless a later revocation is, and the entry refuses
only while it is revoked and not lifted after. Both writes are one `INSERT … ON CONFLICT DO UPDATE … WHERE`:
PostgreSQL locks the conflicting row (or waits for the uncommitted insert of the same key) before it decides,
so two writers of one entry are serialised and neither update is lost.

Events alone left a window (issue 14, finding 1): the request that revoked was answered before the services
held the entry. So identity applies each revocation to its own deny list in the transaction that revokes
(`apply`), and when an event carries a `revocation_id` every other service's consumer acknowledges it through
its outbox, in the transaction that stored the entry (`RevocationApplied`, `yui_common.events.revocations`);
identity answers the revoking request once every acknowledgement is in.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from yui_common import outbox
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope, EventData
from yui_common.events.identity import (
    CertificateRevokedV1,
    FacilityDisabledV1,
    FacilityReinstatedV1,
    SessionRevokedV1,
    UserDisabledV1,
    UserReinstatedV1,
    UserSuspendedV1,
)
from yui_common.events.revocations import REVOCATION_APPLIED
from yui_common.schema import revoked_principals_table

# Longer than any access token lives (identity's are 15 minutes; the test stack's one hour).
KEEP_FOR = timedelta(days=1)


_table = revoked_principals_table(sa.MetaData())

# The condition under which a row refuses: revoked, and not lifted after (a tie keeps refusing). The other
# readers of the table (timeline's and notify's authorisation statements, the soak) state it the same way.
_IN_FORCE = "revoked_at IS NOT NULL AND (lifted_at IS NULL OR revoked_at >= lifted_at) AND expires_at > now()"
# Tokens issued at or before the revocation are refused (iat has whole seconds, so this errs on refusing).
# A suspended network (yui_common.networks) refuses every token of it, whenever issued, in the same statement.
_IS_REVOKED = sa.text(
    # … and so does one being ended, or ended (issue 11: its rows are gone, yui_common.network_export keeps
    # its slug in ended_networks).
    "SELECT 'network' FROM network_states WHERE tenant = :tenant AND status <> 'active' UNION ALL "  # noqa: S608 - constants only
    "SELECT 'network' FROM ended_networks WHERE slug = :tenant UNION ALL "
    "(SELECT kind FROM revoked_principals WHERE (kind, value) IN "
    "(('user', :user), ('facility', :facility), ('session', :session), ('certificate', :certificate)) "
    f"AND revoked_at >= to_timestamp(:issued_at) AND {_IN_FORCE} LIMIT 1) LIMIT 1"
)
# Last writer wins by event time: each write applies only when it is newer than the other kind of write
# recorded (a revocation ties with a lift in its favour) and than its own; expires_at only grows.
_REVOKE = sa.text(
    "INSERT INTO revoked_principals AS r (kind, value, tenant, revoked_at, lifted_at, expires_at) "
    "VALUES (:kind, :value, :tenant, :at, NULL, :expires_at) "
    "ON CONFLICT (kind, value) DO UPDATE SET revoked_at = excluded.revoked_at, "
    "expires_at = greatest(r.expires_at, excluded.expires_at) "
    "WHERE excluded.revoked_at >= coalesce(r.lifted_at, '-infinity') "
    "AND excluded.revoked_at > coalesce(r.revoked_at, '-infinity')"
)
_LIFT = sa.text(
    "INSERT INTO revoked_principals AS r (kind, value, tenant, revoked_at, lifted_at, expires_at) "
    "VALUES (:kind, :value, :tenant, NULL, :at, :expires_at) "
    "ON CONFLICT (kind, value) DO UPDATE SET lifted_at = excluded.lifted_at, "
    "expires_at = greatest(r.expires_at, excluded.expires_at) "
    "WHERE excluded.lifted_at > coalesce(r.revoked_at, '-infinity') "
    "AND excluded.lifted_at > coalesce(r.lifted_at, '-infinity')"
)
# Entries and tombstones alike: after KEEP_FOR no token they could concern is alive, and an event that old
# (a revocation redelivered a day late) would write a row already expired.
_PURGE = sa.text("DELETE FROM revoked_principals WHERE expires_at < now()")
# Databases whose deny list predates the tombstones (created by `ensure_table` or a first migration before).
_UPGRADE = (
    "ALTER TABLE revoked_principals ADD COLUMN IF NOT EXISTS lifted_at timestamptz",
    "ALTER TABLE revoked_principals ALTER COLUMN revoked_at DROP NOT NULL",
)


def ensure_table(dsn: str) -> None:
    """Create the deny list in a service's database (idempotent; part of `migrate`). Blocking."""

    async def create() -> None:
        engine = create_async_engine(dsn, poolclass=sa.pool.NullPool)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(lambda sync: _table.create(sync, checkfirst=True))
                for statement in _UPGRADE:
                    await connection.exec_driver_sql(statement)
        finally:
            await engine.dispose()

    asyncio.run(create())


async def revoked_kind(
    session: AsyncSession,
    *,
    user_id: str,
    facility_id: str | None,
    session_id: str | None,
    cert_fingerprint: str | None,
    issued_at: int,
    tenant: str | None = None,
) -> str | None:
    """The kind of entry that refuses this token ('network' when its network is suspended), or None."""
    row = (
        await session.execute(
            _IS_REVOKED,
            {
                "user": user_id,
                "facility": facility_id or "",
                "session": session_id or "",
                "certificate": (cert_fingerprint or "").lower(),
                "issued_at": issued_at,
                "tenant": tenant or "",
            },
        )
    ).first()
    return str(row[0]) if row else None


async def revoke(
    session: AsyncSession, *, kind: str, value: str, tenant: str, revoked_at: datetime | None
) -> None:
    """Record a revocation at ``revoked_at`` (identity's time), unless a later lift is recorded."""
    at = revoked_at or datetime.now(UTC)
    await _write(session, _REVOKE, kind=kind, value=value, tenant=tenant, at=at)


async def lift(session: AsyncSession, *, kind: str, value: str, tenant: str, lifted_at: datetime) -> None:
    """Record a reinstatement at ``lifted_at`` (identity's time), unless a later revocation is recorded."""
    await _write(session, _LIFT, kind=kind, value=value, tenant=tenant, at=lifted_at)


async def _write(
    session: AsyncSession, statement: sa.TextClause, *, kind: str, value: str, tenant: str, at: datetime
) -> None:
    parameters = {
        "kind": kind,
        "value": value.lower(),
        "tenant": tenant,
        "at": at,
        "expires_at": at + KEEP_FOR,
    }
    await session.execute(statement, parameters)
    await session.execute(_PURGE)


async def _user_suspended(session: AsyncSession, envelope: Envelope, data: UserSuspendedV1) -> None:
    at = data.suspended_at or envelope.occurred_at
    await revoke(session, kind="user", value=str(data.user_id), tenant=envelope.tenant, revoked_at=at)


async def _user_disabled(session: AsyncSession, envelope: Envelope, data: UserDisabledV1) -> None:
    await revoke(
        session, kind="user", value=str(data.user_id), tenant=envelope.tenant, revoked_at=data.disabled_at
    )


# A reinstatement carries no time of its own: the envelope's is identity's, taken in the reinstating transaction.
async def _user_reinstated(session: AsyncSession, envelope: Envelope, data: UserReinstatedV1) -> None:
    await lift(
        session, kind="user", value=str(data.user_id), tenant=envelope.tenant, lifted_at=envelope.occurred_at
    )


async def _facility_disabled(session: AsyncSession, envelope: Envelope, data: FacilityDisabledV1) -> None:
    await revoke(
        session,
        kind="facility",
        value=str(data.facility_id),
        tenant=envelope.tenant,
        revoked_at=data.disabled_at,
    )


async def _facility_reinstated(session: AsyncSession, envelope: Envelope, data: FacilityReinstatedV1) -> None:
    await lift(
        session,
        kind="facility",
        value=str(data.facility_id),
        tenant=envelope.tenant,
        lifted_at=envelope.occurred_at,
    )


async def _session_revoked(session: AsyncSession, envelope: Envelope, data: SessionRevokedV1) -> None:
    await revoke(
        session,
        kind="session",
        value=str(data.session_id),
        tenant=envelope.tenant,
        revoked_at=data.revoked_at,
    )


async def _certificate_revoked(session: AsyncSession, envelope: Envelope, data: CertificateRevokedV1) -> None:
    await revoke(
        session,
        kind="certificate",
        value=data.fingerprint_sha256,
        tenant=envelope.tenant,
        revoked_at=data.revoked_at,
    )


_APPLY: dict[str, Any] = {
    UserSuspendedV1.event_type: _user_suspended,
    UserDisabledV1.event_type: _user_disabled,
    UserReinstatedV1.event_type: _user_reinstated,
    FacilityDisabledV1.event_type: _facility_disabled,
    FacilityReinstatedV1.event_type: _facility_reinstated,
    SessionRevokedV1.event_type: _session_revoked,
    CertificateRevokedV1.event_type: _certificate_revoked,
}


async def apply(session: AsyncSession, envelope: Envelope) -> None:
    """Apply one of identity's revocation or reinstatement events to this database's deny list, in the
    caller's transaction: identity calls it in the transaction that revokes, so its own API refuses the
    token on the very next request without waiting for its own event."""
    await _APPLY[envelope.type](session, envelope, envelope.parse_data())


def subscription(service_name: str) -> Subscription:
    """The deny-list consumer every service's worker runs (added by `yui_common.worker.Worker`).

    A revocation that identity waits for (its event carries a ``revocation_id``) is acknowledged through the
    outbox in the transaction that stores the entry: the acknowledgement cannot leave unless the entry holds.
    """
    acknowledgement = REVOCATION_APPLIED.get(service_name)

    async def handle(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        await _APPLY[envelope.type](session, envelope, data)
        revocation_id = getattr(data, "revocation_id", None)
        if acknowledgement is not None and revocation_id is not None:
            await outbox.add_event(
                session,
                acknowledgement(
                    revocation_id=revocation_id, service=service_name, applied_at=datetime.now(UTC)
                ),
                tenant=envelope.tenant,
            )

    return Subscription(queue=f"{service_name}.revocations", handlers=dict.fromkeys(_APPLY, handle))
