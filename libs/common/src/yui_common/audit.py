"""Audit entries, appended without a lock in the caller's transaction with their content hash (sealed later)."""

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

# One statement, no lock and no read of any chain head: the worker seals committed entries in batches later
# (yui_common.audit_seal). xact_id takes its default, the inserting transaction's id.
_INSERT = text(
    "INSERT INTO audit_log (id, occurred_at, tenant, actor_id, facility_id, subject_id, action, target, "
    "detail, trace_id, hash) VALUES (:id, :occurred_at, :tenant, :actor_id, :facility_id, "
    ":subject_id, :action, :target, CAST(:detail AS jsonb), :trace_id, :hash)"
)


def entry_hash(fields: dict[str, Any], prev_hash: str | None = None) -> str:
    """An entry's content hash. ``prev_hash`` is given only for entries from before batch sealing, whose
    stored link to the previous entry was part of what they hashed."""
    content = {k: _plain(v) for k, v in fields.items()}
    if prev_hash is not None:
        content["prev_hash"] = prev_hash
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
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

    The staged entries are inserted with one statement just before the transaction commits (``_append``),
    so they commit with the business change or not at all, and a request that only reads gets its
    transaction id at its very end (a short-lived id lets the sealer move on sooner).
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
    await session.run_sync(_append)


def _append(session: Session) -> None:
    """before_commit: insert the staged entries in this transaction, each with its content hash."""
    pending: list[dict[str, Any]] = session.info.pop(_PENDING, None) or []
    if not pending:
        return
    rows = [
        {**fields, "detail": json.dumps(fields["detail"], ensure_ascii=False), "hash": entry_hash(fields)}
        for fields in pending
    ]
    session.connection().execute(_INSERT, rows)


def _discard(session: Session, transaction: Any) -> None:
    """When the outermost transaction ends without committing (rollback, close), its staged entries go too."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


event.listen(Session, "before_commit", _append)
event.listen(Session, "after_transaction_end", _discard)


@dataclass(frozen=True)
class ChainBreak:
    seq: int  # the entry's position, or the first position a broken seal covers
    problem: str


async def verify_chain(session: AsyncSession) -> tuple[int, list[ChainBreak]]:
    """Check every entry against its content hash and the seals in this database (not the exported heads:
    `yui_common.audit_seal.verify_log` does that too); returns (entries checked, breaks found)."""
    # Imported here: the verifier builds on this module's hashing.
    from yui_common.audit_seal import verify_log

    verification = await verify_log(session)
    return verification.entries_checked, verification.breaks
