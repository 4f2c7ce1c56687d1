"""The audit-entries API every service mounts: the operator searches the log and verifies it against its seals."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
import urllib3
from fastapi import APIRouter, Query, Request
from minio.error import S3Error
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from yui_common import audit
from yui_common.audit_seal import AuditVerification, SealHeads, audit_key, verify_log
from yui_common.auth import CurrentPrincipal, Principal
from yui_common.db import DbSession
from yui_common.problems import Problem
from yui_common.schema import infrastructure_tables
from yui_common.settings import CommonSettings

OPERATOR = "operator"
MAX_LIMIT = 500
DEFAULT_LIMIT = 100
# Identifiers in the log are UUIDs or short tagged strings ("login:<id>", "system"); anything longer is noise.
_ID_LENGTH = 200

_metadata = sa.MetaData()
AUDIT_LOG: sa.Table = next(t for t in infrastructure_tables(_metadata) if t.name == "audit_log")
IdentifierQuery = Annotated[str | None, Query(min_length=1, max_length=_ID_LENGTH)]


class AuditFilter(BaseModel):
    """What the operator asks for; every field narrows the result (AND)."""

    model_config = ConfigDict(frozen=True)

    subject_id: str | None = None
    user_id: str | None = None
    facility_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    action: str | None = None  # exact, or a prefix when it ends with "*" ("consent.*")

    def as_detail(self) -> dict[str, str]:
        """The filter as the search's own audit entry records it."""
        return {
            key: value.isoformat() if isinstance(value, datetime) else str(value)
            for key, value in self.model_dump().items()
            if value is not None
        }


class AuditEntryRead(BaseModel):
    service: str
    position: int  # the entry's place in this service's chain (audit_log.seq)
    id: str
    occurred_at: datetime
    tenant: str
    actor_id: str
    facility_id: str | None
    subject_id: str | None
    action: str
    target: str | None
    detail: dict[str, Any]
    trace_id: str | None
    prev_hash: str | None  # only entries from before batch sealing link to their predecessor
    hash: str
    cursor: str  # pass as ?cursor= to continue with the entries older than this one


class AuditEntriesPage(BaseModel):
    service: str
    entries: list[AuditEntryRead]
    next_cursor: str | None


class ChainBreakRead(BaseModel):
    position: int
    problem: str


class ChainVerificationRead(BaseModel):
    """An operator's answer is scoped to its network (``scoped_to_network``): ``verified`` is the whole
    chain's verdict, ``entries_checked`` and ``breaks`` only its network's entries, and the deployment-wide
    figures (seals, heads, unsealed entries) are None: the `audit-verify` command reports those."""

    service: str
    verified: bool
    entries_checked: int
    breaks: list[ChainBreakRead]
    seals_checked: int | None = 0
    # The newest seal found equal to its signed head outside the database (None: not compared).
    heads_checked_through: int | None = None
    unsealed_entries: int | None = 0
    oldest_unsealed_age_seconds: float | None = None


def encode_cursor(occurred_at: datetime, position: int) -> str:
    raw = f"{occurred_at.isoformat()}|{position}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, _, position = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        occurred_at = datetime.fromisoformat(moment)
        if occurred_at.tzinfo is None:
            raise ValueError("naive time")
        return occurred_at, int(position)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise Problem(
            422,
            "validation-error",
            "The request is not valid",
            "The cursor is not one this service issued.",
            errors=[{"location": ["query", "cursor"], "message": "unknown cursor", "kind": "value_error"}],
        ) from exc


def require_operator(principal: Principal) -> None:
    # Only the network's operator reviews access logs (S2); the query below also pins the caller's tenant.
    if not principal.has_role(OPERATOR):
        raise Problem(
            403, "forbidden", "Operators only", "Only the network's operator may read the audit log."
        )


async def search_entries(
    session: AsyncSession,
    *,
    principal: Principal,
    service: str,
    audit_filter: AuditFilter,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> AuditEntriesPage:
    """One page of the caller's network's entries, newest first; the search itself is audited."""
    require_operator(principal)
    if audit_filter.since and audit_filter.until and audit_filter.since >= audit_filter.until:
        raise Problem(
            422,
            "validation-error",
            "The request is not valid",
            "since must be earlier than until.",
            errors=[
                {"location": ["query", "until"], "message": "until is not after since", "kind": "value_error"}
            ],
        )
    limit = max(1, min(limit, MAX_LIMIT))
    column = AUDIT_LOG.c
    query = sa.select(AUDIT_LOG).where(column.tenant == principal.tenant)
    if audit_filter.subject_id:
        query = query.where(column.subject_id == audit_filter.subject_id)
    if audit_filter.user_id:
        query = query.where(column.actor_id == audit_filter.user_id)
    if audit_filter.facility_id:
        query = query.where(column.facility_id == audit_filter.facility_id)
    if audit_filter.since:
        query = query.where(column.occurred_at >= audit_filter.since)
    if audit_filter.until:
        query = query.where(column.occurred_at < audit_filter.until)
    if audit_filter.action:
        if audit_filter.action.endswith("*"):
            query = query.where(column.action.startswith(audit_filter.action[:-1], autoescape=True))
        else:
            query = query.where(column.action == audit_filter.action)
    if cursor:
        after_time, after_position = decode_cursor(cursor)
        query = query.where(
            sa.tuple_(column.occurred_at, column.seq)
            < sa.tuple_(
                sa.literal(after_time, sa.DateTime(timezone=True)), sa.literal(after_position, sa.BigInteger)
            )
        )
    # (occurred_at, seq) is a total order: seq breaks ties between entries staged in the same microsecond.
    query = query.order_by(column.occurred_at.desc(), column.seq.desc()).limit(limit + 1)
    rows = (await session.execute(query)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [
        AuditEntryRead(
            service=service,
            position=row.seq,
            id=str(row.id),
            occurred_at=row.occurred_at,
            tenant=row.tenant,
            actor_id=row.actor_id,
            facility_id=row.facility_id,
            subject_id=row.subject_id,
            action=row.action,
            target=row.target,
            detail=row.detail or {},
            trace_id=row.trace_id,
            prev_hash=row.prev_hash,
            hash=row.hash,
            cursor=encode_cursor(row.occurred_at, row.seq),
        )
        for row in rows
    ]
    await audit.record_by(
        session,
        principal,
        action="audit.search",
        # Filed under the subject searched for, so "who looked into X's access log" is itself searchable.
        subject_id=audit_filter.subject_id,
        detail={**audit_filter.as_detail(), "results": len(entries), "page": "next" if cursor else "first"},
    )
    return AuditEntriesPage(
        service=service, entries=entries, next_cursor=entries[-1].cursor if more and entries else None
    )


async def verify_entries(
    session: AsyncSession,
    *,
    principal: Principal,
    service: str,
    settings: CommonSettings | None = None,
) -> ChainVerificationRead:
    """Check this service's whole log (every network shares it: one database, one log) against its seals and,
    given the service's settings, the newest seal against its signed head in the object store."""
    require_operator(principal)
    if settings is None:
        verification = await verify_log(session)
    else:
        key = audit_key(settings)
        try:
            verification = await verify_log(
                session, heads=SealHeads(settings), public_key=key.public if key else None
            )
        except (S3Error, urllib3.exceptions.HTTPError) as exc:
            raise Problem(
                503, "unavailable", "Not ready", "The signed seal heads could not be read from the store."
            ) from exc
    return await scoped_to_network(session, principal=principal, service=service, verification=verification)


async def scoped_to_network(
    session: AsyncSession, *, principal: Principal, service: str, verification: AuditVerification
) -> ChainVerificationRead:
    """What an operator hears of the whole log's verification (issue 14): whether this service's chain is
    intact, and its own network's entries. How many entries, seals and positions the other networks have is
    theirs, so neither the answer nor this check's own audit entry (which the operator can search) says it."""
    column = AUDIT_LOG.c
    own_entries = await session.scalar(
        sa.select(sa.func.count()).select_from(AUDIT_LOG).where(column.tenant == principal.tenant)
    )
    positions = [b.seq for b in verification.breaks]
    own_positions = set(
        (
            await session.scalars(
                sa.select(column.seq).where(column.tenant == principal.tenant, column.seq.in_(positions))
            )
        ).all()
    )
    own_breaks = [
        ChainBreakRead(position=b.seq, problem=b.problem)
        for b in verification.breaks
        if b.seq in own_positions
    ]
    await audit.record_by(
        session,
        principal,
        action="audit.verify",
        detail={"intact": str(verification.verified), "checked": own_entries or 0, "breaks": len(own_breaks)},
    )
    return ChainVerificationRead(
        service=service,
        verified=verification.verified,
        entries_checked=own_entries or 0,
        breaks=own_breaks,
        seals_checked=None,
        unsealed_entries=None,
    )


def audit_entries_router(service: str) -> APIRouter:
    """`GET /audit-entries` and `GET /audit-entries/verification` for the service named ``service``."""
    router = APIRouter(prefix="/audit-entries", tags=["audit"])

    @router.get("", response_model=AuditEntriesPage)
    async def list_audit_entries(
        session: DbSession,
        principal: CurrentPrincipal,
        subject_id: IdentifierQuery = None,
        user_id: IdentifierQuery = None,
        facility_id: IdentifierQuery = None,
        since: Annotated[AwareDatetime | None, Query()] = None,
        until: Annotated[AwareDatetime | None, Query()] = None,
        action: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> AuditEntriesPage:
        """The operator's network's audit entries, newest first, keyset-paginated (operators only)."""
        audit_filter = AuditFilter(
            subject_id=subject_id,
            user_id=user_id,
            facility_id=facility_id,
            since=since,
            until=until,
            action=action,
        )
        return await search_entries(
            session,
            principal=principal,
            service=service,
            audit_filter=audit_filter,
            limit=limit,
            cursor=cursor,
        )

    @router.get("/verification", response_model=ChainVerificationRead)
    async def verify_audit_chain(
        request: Request, session: DbSession, principal: CurrentPrincipal
    ) -> ChainVerificationRead:
        """Whether this service's log matches its seals and their signed heads (operators only)."""
        settings = getattr(request.app.state, "settings", None)
        return await verify_entries(session, principal=principal, service=service, settings=settings)

    return router
