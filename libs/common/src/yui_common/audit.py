"""Hash-chained audit entries, appended in the caller's transaction, and the chain verifier."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from uuid6 import uuid7

from yui_common.telemetry import current_trace_id


class Actor(Protocol):
    """Whoever acts: a token's Principal, the portal's StaffSession; anything naming a person in a network."""

    @property
    def tenant(self) -> str: ...
    @property
    def user_id(self) -> UUID: ...
    @property
    def facility_id(self) -> UUID | None: ...


GENESIS = "0" * 64
# One advisory lock per database serialises appends so the chain has exactly one order.
_CHAIN_LOCK = 0x7975695F61756469  # "yui_audi"

_INSERT = text(
    "INSERT INTO audit_log (id, occurred_at, tenant, actor_id, facility_id, subject_id, action, target, "
    "detail, trace_id, prev_hash, hash) VALUES (:id, :occurred_at, :tenant, :actor_id, :facility_id, "
    ":subject_id, :action, :target, CAST(:detail AS jsonb), :trace_id, :prev_hash, :hash)"
)


def entry_hash(fields: dict[str, Any], prev_hash: str) -> str:
    canonical = json.dumps(
        {**{k: _plain(v) for k, v in fields.items()}, "prev_hash": prev_hash},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, UUID):
        return str(value)
    return value


async def record(
    session: AsyncSession,
    *,
    tenant: str,
    actor_id: str,
    action: str,
    subject_id: str | None = None,
    facility_id: str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> str:
    """Stage one audit entry in the current transaction; returns its id.

    The entry is chained and inserted just before the transaction commits (``_seal``), so the chain's
    lock is held for the commit only, not for the whole request: entries still commit with the business
    change or not at all.
    """
    fields: dict[str, Any] = {
        "id": str(uuid7()),
        "occurred_at": datetime.now(UTC),
        "tenant": tenant,
        "actor_id": str(actor_id),
        "facility_id": str(facility_id) if facility_id else None,
        "subject_id": str(subject_id) if subject_id else None,
        "action": action,
        "target": target,
        "detail": detail or {},
        "trace_id": current_trace_id(),
    }
    session.sync_session.info.setdefault(_PENDING, []).append(fields)
    return str(fields["id"])


async def record_by(
    session: AsyncSession,
    principal: Actor,
    *,
    action: str,
    subject_id: UUID | str | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> str:
    """Stage an entry for what a signed-in person did: who, their network and facility come from the principal."""
    return await record(
        session,
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(principal.facility_id) if principal.facility_id else None,
        subject_id=str(subject_id) if subject_id else None,
        action=action,
        target=target,
        detail={k: _plain(v) for k, v in (detail or {}).items()},
    )


_PENDING = "yui_audit_pending"


def staged_entries(session: AsyncSession) -> int:
    """How many entries this transaction will append when it commits."""
    return len(session.sync_session.info.get(_PENDING, ()))


async def write_staged(session: AsyncSession) -> None:
    """Append the staged entries now instead of at commit (for code that must read them back in-transaction)."""
    await session.run_sync(_seal)


def _seal(session: Session) -> None:
    """before_commit: chain the staged entries after the newest one and insert them in this transaction."""
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, None) or []
    if not pending:
        return
    connection = session.connection()
    # One advisory lock per database serialises appends so the chain has exactly one order.
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    prev_hash = (
        connection.execute(text("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")).scalar() or GENESIS
    )
    rows = []
    for fields in pending:
        digest = entry_hash(fields, prev_hash)
        rows.append(
            {
                **fields,
                "detail": json.dumps(fields["detail"], ensure_ascii=False),
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    connection.execute(_INSERT, rows)


def _discard(session: Session, transaction: Any) -> None:
    """When the outermost transaction ends without committing (rollback, close), its staged entries go too."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


event.listen(Session, "before_commit", _seal)
event.listen(Session, "after_transaction_end", _discard)


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


async def verify_chain(session: AsyncSession) -> tuple[int, list[ChainBreak]]:
    """Walk the whole chain in order; returns (entries checked, breaks found)."""
    result = await session.stream(
        text(
            "SELECT seq, id, occurred_at, tenant, actor_id, facility_id, subject_id, action, target, detail, "
            "trace_id, prev_hash, hash FROM audit_log ORDER BY seq"
        )
    )
    breaks: list[ChainBreak] = []
    expected_prev = GENESIS
    checked = 0
    async for row in result:
        checked += 1
        fields = {
            "id": str(row.id),
            "occurred_at": row.occurred_at,
            "tenant": row.tenant,
            "actor_id": row.actor_id,
            "facility_id": row.facility_id,
            "subject_id": row.subject_id,
            "action": row.action,
            "target": row.target,
            "detail": row.detail,
            "trace_id": row.trace_id,
        }
        if row.prev_hash != expected_prev:
            breaks.append(ChainBreak(row.seq, "link to the previous entry is broken (deleted or reordered)"))
        if entry_hash(fields, row.prev_hash) != row.hash:
            breaks.append(ChainBreak(row.seq, "entry content does not match its hash (modified)"))
        expected_prev = row.hash
    return checked, breaks
