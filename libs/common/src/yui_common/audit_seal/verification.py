"""Verifying the audit log: entries against their seals, seals against each other and the exported heads."""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from yui_common.audit import GENESIS, ChainBreak, entry_hash
from yui_common.audit_seal.heads import SealHeads
from yui_common.audit_seal.keys import AuditPublicKey
from yui_common.audit_seal.sealer import Seal, seal_head, seals_after, signed_message
from yui_common.schema import infrastructure_tables

_TABLES = {t.name: t for t in infrastructure_tables(sa.MetaData())}
AUDIT_LOG: sa.Table = _TABLES["audit_log"]
# Entries erased with an ended network (issue 11): their hashes stand in for them in the seals they were in.
AUDIT_ERASURES: sa.Table = _TABLES["audit_erasures"]
# A seal is exported right after it commits; one still missing from the store after this long is a break.
EXPORT_GRACE = timedelta(minutes=5)
_ENTRY_FIELDS = (
    "id",
    "occurred_at",
    "tenant",
    "actor_id",
    "facility_id",
    "subject_id",
    "action",
    "target",
    "detail",
    "trace_id",
)
_COMPARED = ("xid_lower", "xid_upper", "first_seq", "last_seq", "row_count", "batch_hash", "previous_head")


@dataclass
class AuditVerification:
    entries_checked: int = 0
    seals_checked: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)
    unsealed_entries: int = 0
    oldest_unsealed_at: datetime | None = None
    newest_unsealed_at: datetime | None = None
    heads_checked_through: int | None = None  # the newest seal compared with its exported, signed head
    seals_awaiting_export: int = 0
    signatures_checked: bool = False
    entries_erased: int = 0  # sealed entries of ended networks, checked by their kept hashes (issue 11)

    @property
    def verified(self) -> bool:
        return not self.breaks

    def unsealed_age_s(self, which: str = "oldest", now: datetime | None = None) -> float | None:
        moment = self.oldest_unsealed_at if which == "oldest" else self.newest_unsealed_at
        if moment is None:
            return None
        return max(((now or datetime.now(UTC)) - moment).total_seconds(), 0.0)


@dataclass
class _Batch:
    """What the rows of one seal add up to, accumulated while the entries stream past in seq order."""

    digest: Any = field(default_factory=hashlib.sha256)
    count: int = 0
    first_seq: int | None = None
    last_seq: int | None = None


def _seal_problem(seal: Seal, problem: str) -> ChainBreak:
    return ChainBreak(
        seal.first_seq, f"seal {seal.number} (entries {seal.first_seq}–{seal.last_seq}): {problem}"
    )


async def verify_log(
    session: AsyncSession,
    *,
    heads: SealHeads | None = None,
    public_key: AuditPublicKey | None = None,
    now: datetime | None = None,
) -> AuditVerification:
    """Check every entry's content hash, every seal's batch, range, head and link, and (with ``heads``) that
    the newest exported signed head is this database's. One pass over the log in seq order."""
    now = now or datetime.now(UTC)
    result = AuditVerification(signatures_checked=public_key is not None)
    seals = await seals_after(session, 0, limit=2**62)
    log = heads.log if heads is not None else None
    _check_seal_chain(seals, result, public_key=public_key, log=log)
    uppers = [seal.xid_upper for seal in seals]
    batches = [_Batch() for _ in seals]
    present = sa.select(
        AUDIT_LOG.c.seq,
        *(AUDIT_LOG.c[name] for name in _ENTRY_FIELDS),
        AUDIT_LOG.c.prev_hash,
        AUDIT_LOG.c.hash,
        AUDIT_LOG.c.xact_id,
        sa.false().label("erased"),
    )
    # An erased entry's content is gone: its kept hash is what its seal's batch hash was made of.
    erased = sa.select(
        AUDIT_ERASURES.c.seq,
        *(sa.null().cast(AUDIT_LOG.c[name].type).label(name) for name in _ENTRY_FIELDS),
        sa.null().cast(sa.Text).label("prev_hash"),
        AUDIT_ERASURES.c.hash,
        AUDIT_ERASURES.c.xact_id,
        sa.true().label("erased"),
    ).where(AUDIT_ERASURES.c.sealed)
    rows = await session.stream(
        sa.union_all(present, erased).order_by("seq"), execution_options={"yield_per": 5000}
    )
    async for row in rows:
        result.entries_checked += 1
        if row.erased:
            result.entries_erased += 1
        else:
            fields = {name: getattr(row, name) for name in _ENTRY_FIELDS}
            fields["id"] = str(fields["id"])
            if entry_hash(fields, row.prev_hash) != row.hash:
                result.breaks.append(ChainBreak(row.seq, "entry content does not match its hash (modified)"))
        index = bisect.bisect_right(uppers, row.xact_id)
        if index < len(seals) and row.xact_id >= seals[index].xid_lower:
            batch = batches[index]
            batch.digest.update(row.hash.encode())
            batch.digest.update(b"\n")
            batch.count += 1
            batch.first_seq = row.seq if batch.first_seq is None else batch.first_seq
            batch.last_seq = row.seq
        elif not seals or row.xact_id >= seals[-1].xid_upper:
            result.unsealed_entries += 1
            if result.oldest_unsealed_at is None or row.occurred_at < result.oldest_unsealed_at:
                result.oldest_unsealed_at = row.occurred_at
            if result.newest_unsealed_at is None or row.occurred_at > result.newest_unsealed_at:
                result.newest_unsealed_at = row.occurred_at
        else:
            result.breaks.append(ChainBreak(row.seq, "entry lies in no seal's range (inserted or moved)"))
    for seal, batch in zip(seals, batches, strict=True):
        if batch.count != seal.row_count:
            result.breaks.append(
                _seal_problem(
                    seal, f"{batch.count} entries where {seal.row_count} were sealed (deleted or added)"
                )
            )
        elif batch.digest.hexdigest() != seal.batch_hash or (batch.first_seq, batch.last_seq) != (
            seal.first_seq,
            seal.last_seq,
        ):
            result.breaks.append(
                _seal_problem(seal, "its entries differ from what was sealed (reordered or replaced)")
            )
    result.seals_checked = len(seals)
    if heads is not None:
        await _check_exported_heads(seals, heads, result, public_key=public_key, now=now)
    return result


def _check_seal_chain(
    seals: list[Seal], result: AuditVerification, *, public_key: AuditPublicKey | None, log: str | None
) -> None:
    previous: Seal | None = None
    for position, seal in enumerate(seals, start=1):
        if seal.number != position:
            result.breaks.append(_seal_problem(seal, f"seal {position} is missing (seals deleted)"))
        expected_lower = previous.xid_upper if previous else 0
        if seal.xid_lower != expected_lower or seal.xid_upper <= seal.xid_lower:
            result.breaks.append(_seal_problem(seal, "its range does not follow the previous seal's"))
        if seal.previous_head != (previous.head if previous else GENESIS):
            result.breaks.append(_seal_problem(seal, "its link to the previous seal is broken"))
        recomputed = seal_head(**{name: getattr(seal, name) for name in ("number", *_COMPARED)})
        if recomputed != seal.head:
            result.breaks.append(_seal_problem(seal, "its head does not match its content"))
        if (
            public_key is not None
            and log is not None
            and (
                seal.key_id != public_key.key_id
                or not public_key.verify(signed_message(log, seal.number, seal.head), seal.signature)
            )
        ):
            result.breaks.append(_seal_problem(seal, "its signature is not the audit key's"))
        previous = seal


async def _check_exported_heads(
    seals: list[Seal],
    heads: SealHeads,
    result: AuditVerification,
    *,
    public_key: AuditPublicKey | None,
    now: datetime,
) -> None:
    """The database's seal chain is checked link by link above, so it is enough that its newest exported
    seal equals the signed head in the store: any rewrite of an earlier seal changes every later head."""
    newest_here = seals[-1].number if seals else 0
    beyond = await heads.numbers_after(newest_here)
    if beyond:
        result.breaks.append(
            ChainBreak(
                seals[-1].last_seq if seals else 0,
                f"the store holds signed heads up to seal {max(beyond)} but the database's seals end at "
                f"{newest_here} (seals and entries removed)",
            )
        )
    exported = await heads.newest_at_or_below(newest_here)
    for seal in seals:
        if seal.number > (exported or 0):
            if now - seal.sealed_at > EXPORT_GRACE:
                result.breaks.append(_seal_problem(seal, "its signed head was never exported"))
            else:
                result.seals_awaiting_export += 1
    if exported is None:
        return
    document = await heads.get(exported)
    compared = seals[exported - 1] if exported <= len(seals) else None
    if document is None or compared is None or compared.number != exported:
        return  # already reported as a missing seal above
    if public_key is not None and not public_key.verify(
        signed_message(heads.log, exported, str(document.get("head"))), str(document.get("signature"))
    ):
        result.breaks.append(_seal_problem(compared, "the exported head's signature is not the audit key's"))
    if document.get("head") != compared.head or any(
        document.get(name) != getattr(compared, name) for name in _COMPARED
    ):
        result.breaks.append(
            _seal_problem(
                compared, "it differs from the exported signed head (the log or its seals were rewritten)"
            )
        )
    result.heads_checked_through = exported
