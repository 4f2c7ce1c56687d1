"""Audit entries, appended without a lock in the caller's transaction with their content hash (sealed later)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from uuid6 import uuid7

from yui_common import staging
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
    return hashlib.sha256(_canonical(fields, prev_hash).encode()).hexdigest()


def _canonical(fields: dict[str, Any], prev_hash: str | None = None) -> str:
    content = {k: _plain(v) for k, v in fields.items()}
    if prev_hash is not None:
        content["prev_hash"] = prev_hash
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


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

    The staged entries are inserted with one statement just before the transaction commits
    (``yui_common.staging``; inside a savepoint, at once), so they commit with the business change or not at all, and a request that only reads gets its
    transaction id at its very end (a short-lived id lets the sealer move on sooner).
    """
    fields = _entry_fields(
        tenant=tenant,
        actor_id=actor_id,
        action=action,
        subject_id=subject_id,
        facility_id=facility_id,
        target=target,
        detail=detail,
    )
    return await _stage(session, fields)


async def _stage(session: AsyncSession, fields: dict[str, Any]) -> str:
    await staging.stage(session, _STAGED, fields)
    return str(fields["id"])


def _fields_by(
    principal: Actor,
    *,
    action: str,
    subject_id: UUID | str | None,
    target: str | None,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    """An entry's fields for what a signed-in person did: who, their network and facility from the principal."""
    return _entry_fields(
        tenant=principal.tenant,
        actor_id=str(principal.user_id),
        facility_id=str(principal.facility_id) if principal.facility_id else None,
        subject_id=str(subject_id) if subject_id else None,
        action=action,
        target=target,
        detail={k: _plain(v) for k, v in (detail or {}).items()},
    )


def _entry_fields(
    *,
    tenant: str,
    actor_id: str,
    action: str,
    subject_id: str | None,
    facility_id: str | None,
    target: str | None,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
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


# --- an entry appended by a read's own statement ------------------------------------------------------------
# A hot read (timeline's page) appends its entry in the statement that reads, so the read costs no transaction
# of its own (no BEGIN, no COMMIT, no separate INSERT). Its detail holds one figure only that statement knows,
# how many rows it read: the statement writes it and hashes the entry with it, from the canonical text around
# it, which entry_hash would give for the same fields (audit-verify checks every such entry like any other).
_COUNT_HOLE = 918_273_645_546_372_819  # no id, time or name renders as these digits


def counted_entry_cte(name: str, rows_of: str, key: str) -> str:
    """A data-modifying CTE ``name`` appending one entry whose detail is ``{key: count of rows of rows_of}``
    (``rows_of``: an earlier CTE of the same statement), with named parameters ``counted_entry_params`` gives."""
    return (
        f"{name} AS (INSERT INTO audit_log (id, occurred_at, tenant, actor_id, facility_id, subject_id, action, "  # noqa: S608 - names from the caller's constants
        "target, detail, trace_id, hash) SELECT CAST(:audit_id AS uuid), CAST(:audit_occurred_at AS timestamptz), "
        "CAST(:audit_tenant AS text), CAST(:audit_actor_id AS text), CAST(:audit_facility_id AS text), "
        "CAST(:audit_subject_id AS text), CAST(:audit_action AS text), CAST(:audit_target AS text), "
        f"jsonb_build_object('{key}', c.n), CAST(:audit_trace_id AS text), "
        "encode(sha256(convert_to(CAST(:audit_hash_before AS text) || CAST(c.n AS text) "
        "|| CAST(:audit_hash_after AS text), 'UTF8')), 'hex') "
        f"FROM (SELECT count(*) AS n FROM {rows_of}) AS c)"
    )


def counted_entry_params(
    principal: Actor, *, action: str, subject_id: UUID | str | None, target: str | None, key: str
) -> dict[str, Any]:
    """The parameters of ``counted_entry_cte`` for what a signed-in person read."""
    fields = _fields_by(
        principal, action=action, subject_id=subject_id, target=target, detail={key: _COUNT_HOLE}
    )
    hole = f'"{key}":{_COUNT_HOLE}'
    canonical = _canonical(fields)
    if canonical.count(str(_COUNT_HOLE)) != 1:  # pragma: no cover - a value spelling the hole's digits
        raise ValueError("an audit field repeats the count's placeholder")
    before, _, after = canonical.partition(hole)
    return {
        "audit_id": fields["id"],
        "audit_occurred_at": fields["occurred_at"],
        "audit_tenant": fields["tenant"],
        "audit_actor_id": fields["actor_id"],
        "audit_facility_id": fields["facility_id"],
        "audit_subject_id": fields["subject_id"],
        "audit_action": fields["action"],
        "audit_target": fields["target"],
        "audit_trace_id": fields["trace_id"],
        "audit_hash_before": f'{before}"{key}":',
        "audit_hash_after": after,
    }


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
    return await _stage(
        session, _fields_by(principal, action=action, subject_id=subject_id, target=target, detail=detail)
    )


def staged_entries(session: AsyncSession) -> int:
    """How many entries this transaction will append when it commits."""
    return staging.staged(session, _STAGED)


async def write_staged(session: AsyncSession) -> None:
    """Append the staged entries now instead of at commit (for code that must read them back in-transaction)."""
    await staging.write_now(session, _STAGED)


def _insert(session: Session, pending: list[dict[str, Any]]) -> None:
    """Insert staged entries in the session's transaction, each with its content hash."""
    rows = [
        {**fields, "detail": json.dumps(fields["detail"], ensure_ascii=False), "hash": entry_hash(fields)}
        for fields in pending
    ]
    session.connection().execute(_INSERT, rows)


_STAGED = staging.kind("audit_entries", _insert)


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
