"""The sealer: the worker's job that seals committed audit entries in batches and exports the signed heads.

A seal covers every entry whose transaction id lies in ``[xid_lower, xid_upper)``, where ``xid_upper`` is the
oldest transaction a snapshot taken while sealing sees running, those of other databases passed over
(``_HORIZON``): every transaction below it that could write this log has ended, so no entry can still appear in
the range (a rolled-back transaction's entries never exist; a long transaction keeps xmin at or below its own
id while it runs, so its entries fall into a later seal). The next seal starts where this one ended.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from yui_common.audit import GENESIS
from yui_common.audit_seal.heads import SealHeads, log_name
from yui_common.audit_seal.keys import AuditKey, audit_key
from yui_common.metrics import AUDIT_UNSEALED_AGE, AUDIT_UNSEALED_ROWS
from yui_common.schema import audit_seals_table
from yui_common.settings import CommonSettings

log = logging.getLogger(__name__)

# 0 makes the sealing that is off visible (YuiAuditSealingDisabled): without a key the worker only logs it once.
AUDIT_SEALING_ENABLED = Gauge(
    "yui_audit_sealing_enabled", "1 when this worker seals its audit log, 0 when it has no audit key"
)

# Replicas of a worker take turns: whoever holds this lock seals, the others skip the round.
SEAL_LOCK = 0x7975695F7365616C  # "yui_seal"


@dataclass(frozen=True)
class Seal:
    number: int
    xid_lower: int
    xid_upper: int
    first_seq: int
    last_seq: int
    row_count: int
    batch_hash: str
    previous_head: str
    head: str
    key_id: str
    signature: str
    sealed_at: datetime

    def document(self, log: str) -> dict[str, Any]:
        """The exported head: everything a verifier compares, and the signature over it."""
        return {**asdict(self), "log": log, "sealed_at": self.sealed_at.isoformat()}


def batch_hash(row_hashes: Iterable[str]) -> str:
    """The hash over a batch's entry hashes in their order (seq)."""
    digest = hashlib.sha256()
    for row_hash in row_hashes:
        digest.update(row_hash.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def seal_head(
    *,
    number: int,
    xid_lower: int,
    xid_upper: int,
    first_seq: int,
    last_seq: int,
    row_count: int,
    batch_hash: str,
    previous_head: str,
) -> str:
    """A seal's head: its batch and range, chained to the previous seal's head."""
    canonical = json.dumps(
        {
            "number": number,
            "xid_lower": xid_lower,
            "xid_upper": xid_upper,
            "first_seq": first_seq,
            "last_seq": last_seq,
            "row_count": row_count,
            "batch_hash": batch_hash,
            "previous_head": previous_head,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def signed_message(log: str, number: int, head: str) -> bytes:
    """What the audit key signs: the head, bound to its log and number so it cannot be replayed elsewhere."""
    return f"yui-audit-seal/v1\n{log}\n{number}\n{head}".encode()


AUDIT_SEALS: sa.Table = audit_seals_table(sa.MetaData())


def seal_from_row(row: Any) -> Seal:
    return Seal(**{name: getattr(row, name) for name in Seal.__dataclass_fields__})


async def seals_after(connection: AsyncConnection | AsyncSession, number: int, *, limit: int) -> list[Seal]:
    query = sa.select(AUDIT_SEALS).where(AUDIT_SEALS.c.number > number).order_by(AUDIT_SEALS.c.number)
    return [seal_from_row(row) for row in await connection.execute(query.limit(limit))]


# The seal's upper bound: the oldest transaction still running, passing over those seen running in another
# database of the server, which cannot write this log. The server's xmin alone let one long transaction anywhere
# (another service's export, a backup's, a test's) hold back every service's seals on a shared server.
# Only a transaction positively seen elsewhere is passed over: one the snapshot lists and pg_stat_activity does
# not show (it began or ended between the two reads, a prepared one, another role's hidden from us) still bounds
# the seal. pg_stat_activity shows the 32-bit xid; the snapshot's are 64-bit (xid8), matched on the low half.
_HORIZON = text(
    "WITH now_ AS (SELECT pg_current_snapshot() AS snap), "
    "elsewhere AS (SELECT CAST(CAST(backend_xid AS text) AS bigint) AS xid FROM pg_stat_activity "
    "WHERE backend_xid IS NOT NULL AND datname <> current_database()) "
    "SELECT coalesce(("
    "SELECT min(CAST(CAST(x AS text) AS numeric)) FROM now_, pg_snapshot_xip(now_.snap) AS x "
    "WHERE CAST(CAST(x AS text) AS numeric) % 4294967296 NOT IN (SELECT xid FROM elsewhere)"
    "), (SELECT CAST(CAST(pg_snapshot_xmax(now_.snap) AS text) AS numeric) FROM now_))"
)


class AuditSealer:
    """Seals the log of one database (``seal_once``) and exports the heads (``export_pending``)."""

    def __init__(self, *, engine: AsyncEngine, key: AuditKey, heads: SealHeads | None, log: str) -> None:
        self.engine = engine
        self.key = key
        self.heads = heads
        self.log = log
        self._exported_through: int | None = None  # the newest seal known to be in the store

    @classmethod
    def for_settings(cls, settings: CommonSettings, engine: AsyncEngine) -> AuditSealer | None:
        """The worker's sealer, or None (with a warning) when the service has no audit key configured."""
        key = audit_key(settings)
        AUDIT_SEALING_ENABLED.set(0 if key is None else 1)
        if key is None:
            log.warning("audit sealing is off: no audit key file is configured (audit_key_file)")
            return None
        return cls(engine=engine, key=key, heads=SealHeads(settings), log=log_name(settings))

    async def seal_once(self) -> Seal | None:
        """Seal the entries of every transaction that ended since the last seal; None when there are none
        (or another replica holds the turn)."""
        async with self.engine.connect() as connection, connection.begin():
            taken = await connection.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SEAL_LOCK})
            if not taken:
                return None
            last = (
                await connection.execute(
                    text("SELECT number, xid_upper, head FROM audit_seals ORDER BY number DESC LIMIT 1")
                )
            ).one_or_none()
            number, lower, previous_head = (
                (last.number + 1, last.xid_upper, last.head) if last else (1, 0, GENESIS)
            )
            # Taken before this transaction has an id of its own: every transaction below upper that could
            # write this log has ended.
            upper = int(await connection.scalar(_HORIZON))
            if upper <= lower:
                return None
            rows = (
                await connection.execute(
                    text(
                        "SELECT seq, hash FROM audit_log WHERE xact_id >= CAST(CAST(:lower AS text) AS xid8) "
                        "AND xact_id < CAST(CAST(:upper AS text) AS xid8) ORDER BY seq"
                    ),
                    {"lower": str(lower), "upper": str(upper)},
                )
            ).all()
            if not rows:
                # Nothing committed in the range, and nothing can appear there any more: the next seal that
                # has entries starts from the same lower bound, so no range is ever left out.
                return None
            fields: dict[str, Any] = {
                "number": number,
                "xid_lower": lower,
                "xid_upper": upper,
                "first_seq": rows[0].seq,
                "last_seq": rows[-1].seq,
                "row_count": len(rows),
                "batch_hash": batch_hash(row.hash for row in rows),
                "previous_head": previous_head,
            }
            head = seal_head(**fields)
            seal = Seal(
                **fields,
                head=head,
                key_id=self.key.key_id,
                signature=self.key.sign(signed_message(self.log, number, head)),
                sealed_at=datetime.now(UTC),
            )
            await connection.execute(sa.insert(AUDIT_SEALS).values(**asdict(seal)))
        return seal

    async def export_pending(self) -> int:
        """Write every seal the store does not hold yet, in order; returns how many were written."""
        if self.heads is None:
            return 0
        async with self.engine.connect() as connection:
            if self._exported_through is None:
                newest = await connection.scalar(text("SELECT coalesce(max(number), 0) FROM audit_seals"))
                self._exported_through = await self.heads.newest_at_or_below(int(newest)) or 0
            pending = await seals_after(connection, self._exported_through, limit=1000)
        for seal in pending:
            await self.heads.put(seal.document(self.log))
            self._exported_through = seal.number
        return len(pending)

    async def run_round(self) -> Seal | None:
        """One round of the worker's job: seal, then export (a store that is down delays only the export)."""
        seal = await self.seal_once()
        try:
            await self.export_pending()
        except Exception:
            log.exception("exporting audit seal heads failed; the next round tries again")
        return seal


async def unsealed_backlog(session: AsyncSession) -> tuple[int, float, float]:
    """(entries not yet sealed, age in seconds of the oldest, and of the newest), 0 ages when there are none."""
    row = (
        await session.execute(
            text(
                "SELECT count(*) AS entries, "
                "coalesce(extract(epoch FROM now() - min(occurred_at)), 0) AS oldest, "
                "coalesce(extract(epoch FROM now() - max(occurred_at)), 0) AS newest FROM audit_log "
                "WHERE xact_id >= CAST(CAST((SELECT coalesce(max(xid_upper), 0) FROM audit_seals) AS text) "
                "AS xid8)"
            )
        )
    ).one()
    return int(row.entries), max(float(row.oldest), 0.0), max(float(row.newest), 0.0)


async def refresh_audit_gauges(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """yui_audit_unsealed_rows and yui_audit_unsealed_age_seconds (the oldest unsealed entry's age)."""
    async with sessionmaker() as session:
        entries, oldest, _ = await unsealed_backlog(session)
    AUDIT_UNSEALED_ROWS.set(entries)
    AUDIT_UNSEALED_AGE.set(oldest)
