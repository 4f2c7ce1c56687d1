"""Ending a network (issue 11, ten4): each service's part of the export of one network's data, and its deletion.

Identity asks by event (yui_common.events.network_end); every service's worker answers with ``subscription``:

- **Export** (``identity.network-export-requested.v1``): every row of the network, one JSON file per table
  (``tables/<table>.json``, secrets left out), plus what the service adds (FHIR bundles, the attachments' and
  consent forms' bytes), in one zip, ``<prefix><service>.zip`` in the exports bucket; then
  ``<service>.network-exported.v1`` with the counts, the size and the SHA-256 of the part.
- **Deletion** (``identity.network-ending.v1``): every row of the network in one transaction (children first),
  the service's stored objects under ``<tenant>/``, its outbox rows, and its audit entries, whose hashes stay in
  ``audit_erasures`` so the seals over them (which mix every network's entries) still verify: the exported log
  is the network's record. The slug stays in ``ended_networks``: the deny-list statement refuses any token of it
  and no late network event makes it known again. Then ``<service>.network-ended.v1``.

Both run in the message's inbox-guarded transaction, so a redelivery does nothing; a new request (identity's
retry) does the work again, which finds nothing left to delete and reports again. The part's object key is
the request's, so writing it twice leaves one part.

What a network's data is comes from the service's own metadata (``TenantScope``): every table with a ``tenant``
column, the tables whose rows belong to one of those through a column (``children``), and tables declared
``shared`` (holding no network's data). A table of none of these kinds makes ``TenantScope`` refuse to start,
so a new table can never escape an export or a deletion unnoticed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import tempfile
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from yui_common import audit, networks, outbox
from yui_common.audit_seal.sealer import SEAL_LOCK
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope, EventData
from yui_common.events.network_end import (
    NETWORK_ENDED,
    NETWORK_EXPORTED,
    NetworkEndingV1,
    NetworkExportRequestedV1,
)
from yui_common.settings import CommonSettings
from yui_common.storage import ObjectStore

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1
# Audit entries about a network's export and end outlive the network: they are kept under the platform's name
# (identity.platform's scope for the contractor's own entries; no slug can take it).
PLATFORM_SCOPE = "_platform"
# Infrastructure every database has that holds no network's rows (the outbox is cleared by its envelopes'
# tenant; the inbox keeps only message ids, which keep redeliveries harmless after the end).
INFRASTRUCTURE_SHARED = frozenset({"outbox", "inbox", "audit_seals", "audit_erasures", "ended_networks"})
# Tables deleted but not exported: the network's projection of identity's rules and the deny list.
NOT_EXPORTED = frozenset({"network_states", "revoked_principals"})
AUDIT_LOG = "audit_log"


def exports_bucket(settings: CommonSettings) -> str:
    """Where the contractor collects networks' exports: one bucket beside the services' own."""
    return f"{settings.database_prefix.replace('_', '-')}network-exports"


@dataclass(frozen=True)
class Child:
    """A table without a tenant column whose rows belong to a network through ``column`` = ``parent``'s
    ``parent_column`` (a post's versions through their post)."""

    column: str
    parent: str
    parent_column: str = "id"


@dataclass
class TenantScope:
    """One service's tables as a network's data (see the module's docstring). Refuses an unplaced table."""

    service: str
    metadata: sa.MetaData
    children: Mapping[str, Child] = field(default_factory=dict)
    shared: frozenset[str] = frozenset()
    # Tables whose network is named by another column than ``tenant`` (the portal's maintenance switches'
    # ``scope``): table -> column.
    network_columns: Mapping[str, str] = field(default_factory=dict)
    # Columns never exported (password hashes, TOTP secrets, keys, token digests): table -> columns.
    secret_columns: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tables = self.metadata.tables
        unplaced = [
            name
            for name, table in tables.items()
            if self.network_column(table) is None
            and name not in self.children
            and name not in self.shared
            and name not in INFRASTRUCTURE_SHARED
        ]
        if unplaced:
            raise RuntimeError(
                f"{self.service}: tables {sorted(unplaced)} are neither a network's (tenant column or a child of "
                "one) nor declared shared: say which in the service's network_end scope"
            )
        for name, child in self.children.items():
            if name not in tables or self.network_column(tables[child.parent]) is None:
                raise RuntimeError(f"{self.service}: child {name} must name a table with a tenant column")

    def network_column(self, table: sa.Table) -> sa.Column[Any] | None:
        """The column naming a table's network, if it has one."""
        if table.name in self.network_columns:
            return table.c[self.network_columns[table.name]]
        return table.c.tenant if "tenant" in table.c else None

    @property
    def tenant_tables(self) -> list[sa.Table]:
        """Tables with a column naming the network, parents before the tables referring to them."""
        return [t for t in self.metadata.sorted_tables if self.network_column(t) is not None]

    def child_tables(self) -> list[tuple[sa.Table, Child]]:
        return [(self.metadata.tables[name], child) for name, child in sorted(self.children.items())]

    def rows_of(self, table: sa.Table, tenant: str) -> sa.ColumnElement[bool]:
        """The condition selecting the network's rows of ``table``."""
        column = self.network_column(table)
        if column is not None:
            return column == tenant
        child = self.children[table.name]
        parent = self.metadata.tables[child.parent]
        parent_column = self.network_column(parent)
        assert parent_column is not None
        return table.c[child.column].in_(
            sa.select(parent.c[child.parent_column]).where(parent_column == tenant)
        )

    def exported_tables(self) -> list[sa.Table]:
        order = {t.name: i for i, t in enumerate(self.metadata.sorted_tables)}
        found = [t for t in self.tenant_tables if t.name not in NOT_EXPORTED]
        found += [t for t, _ in self.child_tables()]
        return sorted(found, key=lambda t: order[t.name])


def ensure_tables(dsn: str) -> None:
    """``ended_networks`` and ``audit_erasures`` in a database migrated before them, and the audit log's guard
    that lets an erased entry go (idempotent; part of `migrate`, like the deny list). Blocking."""
    from yui_common.schema import (
        AUDIT_APPEND_ONLY_SQL,
        AUDIT_ERASURES_APPEND_ONLY_SQL,
        audit_erasures_table,
        ended_networks_table,
    )

    async def create() -> None:
        engine = create_async_engine(dsn, poolclass=sa.pool.NullPool)
        metadata = sa.MetaData()
        tables = [ended_networks_table(metadata), audit_erasures_table(metadata)]
        try:
            async with engine.begin() as connection:
                await connection.run_sync(
                    lambda sync: metadata.create_all(sync, tables=tables, checkfirst=True)
                )
                for statement in (*AUDIT_APPEND_ONLY_SQL, *AUDIT_ERASURES_APPEND_ONLY_SQL):
                    await connection.exec_driver_sql(statement)
        finally:
            await engine.dispose()

    asyncio.run(create())


# --- the export ------------------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A column's value as JSON: ids and times as strings (times in UTC, ISO 8601), bytes in base64."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


class PartWriter:
    """One service's part of an export: a zip in a temporary file (spilled to disk), entries written as streams
    so neither a large table nor a large attachment is held whole in memory."""

    def __init__(self, file: IO[bytes]) -> None:
        self.archive = zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self.counts: dict[str, int] = {}

    def write_json(self, name: str, document: Any) -> None:
        self.archive.writestr(name, json.dumps(document, ensure_ascii=False, indent=1))

    async def write_rows(self, session: AsyncSession, name: str, statement: sa.Select[Any]) -> int:
        """A JSON array of the statement's rows (one object per row, columns by name), streamed."""
        count = 0
        with self.archive.open(name, "w", force_zip64=True) as entry:
            entry.write(b"[")
            result = await session.stream(statement, execution_options={"yield_per": 1000})
            async for row in result.mappings():
                entry.write(b"\n" if count == 0 else b",\n")
                entry.write(json.dumps(plain(dict(row)), ensure_ascii=False).encode())
                count += 1
            entry.write(b"\n]\n")
        return count

    async def copy_object(self, name: str, store: ObjectStore, key: str) -> int:
        """The stored object's bytes as an entry; returns its size."""
        size = 0
        with self.archive.open(name, "w", force_zip64=True) as entry:
            async for chunk in store.stream(key):
                entry.write(chunk)
                size += len(chunk)
        return size

    def close(self) -> None:
        self.archive.close()


# What a service adds to its part beyond its tables (FHIR bundles, stored bytes): it may add counts.
ExportExtras = Callable[[AsyncSession, str, PartWriter], Awaitable[None]]
# Removes the service's stored objects of a network; returns how many.
ObjectRemoval = Callable[[str], Awaitable[int]]


async def write_tables(session: AsyncSession, scope: TenantScope, tenant: str, part: PartWriter) -> None:
    for table in scope.exported_tables():
        secret = scope.secret_columns.get(table.name, frozenset())
        columns = [c for c in table.c if c.name not in secret]
        order = list(table.primary_key.columns) or columns[:1]
        statement = sa.select(*columns).where(scope.rows_of(table, tenant)).order_by(*order)
        part.counts[table.name] = await part.write_rows(session, f"tables/{table.name}.json", statement)


async def export_part(
    session: AsyncSession,
    *,
    scope: TenantScope,
    settings: CommonSettings,
    tenant: str,
    request: NetworkExportRequestedV1,
    extras: ExportExtras | None = None,
) -> EventData:
    """Write this service's part of the export to the exports bucket and stage its report (in the caller's
    transaction). Returns the report."""
    key = f"{request.prefix}{scope.service}.zip"
    with tempfile.TemporaryFile() as file:
        part = PartWriter(file)
        try:
            await write_tables(session, scope, tenant, part)
            if extras is not None:
                await extras(session, tenant, part)
            part.write_json(
                "part.json",
                {
                    "format": EXPORT_FORMAT,
                    "service": scope.service,
                    "network": tenant,
                    "operation_id": str(request.operation_id),
                    "written_at": datetime.now(UTC).isoformat(),
                    "counts": part.counts,
                    "secret_columns_left_out": {t: sorted(c) for t, c in scope.secret_columns.items()},
                },
            )
        finally:
            part.close()
        size = file.seek(0, 2)
        file.seek(0)
        digest = hashlib.sha256()
        while block := file.read(1024 * 1024):
            digest.update(block)
        file.seek(0)
        store = ObjectStore(settings, bucket=request.bucket)
        await store.ensure_bucket()
        await store.put_stream(key, file, length=size, content_type="application/zip")  # type: ignore[arg-type]
    report = NETWORK_EXPORTED[scope.service](
        operation_id=request.operation_id,
        service=scope.service,
        key=key,
        size=size,
        sha256=digest.hexdigest(),
        counts=part.counts,
        completed_at=datetime.now(UTC),
    )
    await audit.record(
        session,
        tenant=PLATFORM_SCOPE,
        actor_id=f"network-export:{request.operation_id}",
        action="network.exported",
        target=f"network:{tenant}",
        detail={"key": key, "sha256": report.sha256, "rows": sum(part.counts.values())},
    )
    await outbox.add_event(session, report, tenant=tenant)
    return report


# --- the deletion ----------------------------------------------------------------------------------------------

_ERASE_AUDIT = sa.text(
    "INSERT INTO audit_erasures (seq, xact_id, hash, sealed, reason) "
    "SELECT seq, xact_id, hash, "
    "xact_id < CAST(CAST((SELECT coalesce(max(xid_upper), 0) FROM audit_seals) AS text) AS xid8), :reason "
    "FROM audit_log WHERE tenant = :tenant ON CONFLICT (seq) DO NOTHING"
)
_DELETE_AUDIT = sa.text("DELETE FROM audit_log WHERE tenant = :tenant")
# The network's events still here (published ones are kept a day) go, but the end's own requests and reports:
# they name no one, and identity's retry of a request must not be taken away before it is published.
_DELETE_OUTBOX = sa.text(
    "DELETE FROM outbox WHERE envelope ->> 'tenant' = :tenant AND NOT (event_type = ANY(:kept))"
).bindparams(
    sa.bindparam(
        "kept",
        value=sorted(
            {
                NetworkExportRequestedV1.event_type,
                NetworkEndingV1.event_type,
                *(e.event_type for e in NETWORK_EXPORTED.values()),
                *(e.event_type for e in NETWORK_ENDED.values()),
            }
        ),
        type_=postgresql.ARRAY(sa.Text),
    )
)
_ENDED = sa.text("INSERT INTO ended_networks (slug) VALUES (:tenant) ON CONFLICT (slug) DO NOTHING")


async def erase_tenant(
    session: AsyncSession, *, scope: TenantScope, tenant: str, reason: str
) -> tuple[dict[str, int], int]:
    """Delete every row of the network from this service's database (in the caller's transaction): children
    first, then the tables with a tenant column in reverse dependency order, the outbox's events of it, and its
    audit entries with their hashes kept. Returns rows deleted per table and audit entries erased."""
    deleted: dict[str, int] = {}

    def counted(name: str, rowcount: Any) -> None:
        if rowcount:
            deleted[name] = deleted.get(name, 0) + int(rowcount)

    for table, _ in scope.child_tables():
        result = await session.execute(sa.delete(table).where(scope.rows_of(table, tenant)))
        counted(table.name, result.rowcount)  # type: ignore[attr-defined]
    for table in reversed(scope.tenant_tables):
        if table.name == AUDIT_LOG:
            continue
        result = await session.execute(sa.delete(table).where(scope.rows_of(table, tenant)))
        counted(table.name, result.rowcount)  # type: ignore[attr-defined]
    await outbox.stage_pending(session)  # this transaction's own events are the network's too
    result = await session.execute(_DELETE_OUTBOX, {"tenant": tenant})
    counted("outbox", result.rowcount)  # type: ignore[attr-defined]
    # The sealer takes turns through this lock: holding it, no seal is made while entries leave, so each
    # erasure knows whether a seal covers its entry.
    await session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEAL_LOCK})
    await session.execute(
        _ENDED, {"tenant": tenant}
    )  # first: the audit log's guard erases only an ended network's
    await session.execute(_ERASE_AUDIT, {"tenant": tenant, "reason": reason})
    erased = int((await session.execute(_DELETE_AUDIT, {"tenant": tenant})).rowcount)  # type: ignore[attr-defined]
    # Processes that cache what they read of networks (the portal's gate) drop it at the commit.
    await session.execute(
        sa.text("SELECT pg_notify(:channel, :tenant)"), {"channel": networks.CHANNEL, "tenant": tenant}
    )
    return deleted, erased


async def end_part(
    session: AsyncSession,
    *,
    scope: TenantScope,
    tenant: str,
    request: NetworkEndingV1,
    remove_objects: ObjectRemoval | None = None,
) -> EventData:
    """Delete the network's rows and objects here and stage the report (in the caller's transaction)."""
    deleted, erased = await erase_tenant(
        session, scope=scope, tenant=tenant, reason=f"network-ended:{tenant}:{request.operation_id}"
    )
    # After the rows: should removing objects fail, the transaction rolls back and the retry does both again.
    objects = await remove_objects(tenant) if remove_objects is not None else 0
    report = NETWORK_ENDED[scope.service](
        operation_id=request.operation_id,
        service=scope.service,
        rows_deleted=deleted,
        objects_deleted=objects,
        audit_entries_erased=erased,
        completed_at=datetime.now(UTC),
    )
    await audit.record(
        session,
        tenant=PLATFORM_SCOPE,
        actor_id=f"network-end:{request.operation_id}",
        action="network.deleted",
        target=f"network:{tenant}",
        detail={"rows": sum(deleted.values()), "objects": objects, "audit_entries_erased": erased},
    )
    await outbox.add_event(session, report, tenant=tenant)
    return report


def subscription(
    scope: TenantScope,
    settings: CommonSettings,
    *,
    extras: ExportExtras | None = None,
    remove_objects: ObjectRemoval | None = None,
) -> Subscription:
    """The service's consumer of identity's export and ending requests (queue ``<service>.network-end``)."""

    async def on_export_requested(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, NetworkExportRequestedV1)
        await export_part(
            session, scope=scope, settings=settings, tenant=envelope.tenant, request=data, extras=extras
        )

    async def on_ending(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, NetworkEndingV1)
        await end_part(
            session, scope=scope, tenant=envelope.tenant, request=data, remove_objects=remove_objects
        )

    return Subscription(
        queue=f"{scope.service}.network-end",
        handlers={
            NetworkExportRequestedV1.event_type: on_export_requested,
            NetworkEndingV1.event_type: on_ending,
        },
    )


def store_prefix_removal(store: ObjectStore) -> ObjectRemoval:
    """For a service whose objects are all keyed ``<tenant>/…`` in its own bucket (timeline, consent)."""

    async def remove(tenant: str) -> int:
        return await store.remove_prefix(f"{tenant}/")

    return remove
