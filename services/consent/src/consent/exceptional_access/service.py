"""Exceptional access without consent (C5): requests, the operator's prior permission, and the end of grants
whose time is up. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import audit, outbox
from yui_common.auth import Principal
from yui_common.events.consent import (
    ExceptionalAccessEndedV1,
    ExceptionalAccessGrantedV1,
    ExceptionalAccessRequestedV1,
)
from yui_common.problems import conflict, not_found

from consent.access import audit_subject
from consent.exceptional_access import repository
from consent.models import ExceptionalAccess
from consent.subjects import repository as subject_repository


async def request_exceptional_access(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, ground: str, reason: str
) -> ExceptionalAccess:
    """C5: ask for access without consent; accepted whether or not the subject exists, revealing nothing."""
    request = ExceptionalAccess(
        id=uuid7(),
        tenant=principal.tenant,
        subject_id=subject_id,
        user_id=principal.user_id,
        facility_id=principal.facility_id,
        ground=ground,
        reason=reason,
        status="requested",
        requested_at=datetime.now(UTC),
    )
    session.add(request)
    await session.flush()
    await outbox.add_event(
        session,
        ExceptionalAccessRequestedV1(
            grant_id=request.id,
            subject_id=subject_id,
            user_id=principal.user_id,
            facility_id=principal.facility_id,
            ground=ground,
        ),
        tenant=principal.tenant,
        subject=str(subject_id),
    )
    await audit_subject(
        session, principal, "exceptional_access.request", subject_id, grant=str(request.id), ground=ground
    )
    return request


async def exceptional_access_requests(
    session: AsyncSession, *, principal: Principal, status: str | None
) -> Sequence[ExceptionalAccess]:
    return await repository.exceptional_access_requests(session, tenant=principal.tenant, status=status)


async def my_exceptional_access(
    session: AsyncSession, *, principal: Principal
) -> Sequence[ExceptionalAccess]:
    return await repository.grants_of_user(session, tenant=principal.tenant, user_id=principal.user_id)


async def decide_exceptional_access(
    session: AsyncSession,
    *,
    principal: Principal,
    grant_id: UUID,
    approve: bool,
    note: str | None,
    hours: int,
) -> ExceptionalAccess:
    """C5: the operator's prior permission. An approval lasts ``hours`` and then ends by itself."""
    request = await repository.exceptional_access_for_update(
        session, tenant=principal.tenant, grant_id=grant_id
    )
    if request is None:
        raise not_found("exceptional access request")
    if request.status != "requested":
        raise conflict(f"The request was already {request.status}.", "already-decided")
    now = datetime.now(UTC)
    if (
        approve
        and await subject_repository.subject_in_network(
            session, tenant=principal.tenant, subject_id=request.subject_id
        )
        is None
    ):
        raise conflict("No subject of this network has that id; reject the request.", "unknown-subject")
    request.status = "approved" if approve else "rejected"
    request.decided_by = principal.user_id
    request.decided_at = now
    request.decision_note = note
    if approve:
        request.expires_at = now + timedelta(hours=hours)
        await outbox.add_event(
            session,
            ExceptionalAccessGrantedV1(
                grant_id=request.id,
                subject_id=request.subject_id,
                user_id=request.user_id,
                facility_id=request.facility_id,
                ground=request.ground,
                approved_by=principal.user_id,
                expires_at=request.expires_at,
            ),
            tenant=principal.tenant,
            subject=str(request.subject_id),
        )
    await audit_subject(
        session,
        principal,
        "exceptional_access.approve" if approve else "exceptional_access.reject",
        request.subject_id,
        grant=str(request.id),
    )
    return request


async def expire_due_grants(session: AsyncSession, *, now: datetime | None = None) -> int:
    """C5: end every approved grant whose time is up, announce it and audit it; returns how many ended."""
    now = now or datetime.now(UTC)
    due = await repository.due_grants(session, now=now)
    for grant in due:
        grant.status = "expired"
        grant.ended_at = now
        await outbox.add_event(
            session,
            ExceptionalAccessEndedV1(
                grant_id=grant.id, subject_id=grant.subject_id, user_id=grant.user_id, ended_at=now
            ),
            tenant=grant.tenant,
            subject=str(grant.subject_id),
        )
        await audit.record(
            session,
            tenant=grant.tenant,
            actor_id="system",
            subject_id=str(grant.subject_id),
            action="exceptional_access.expire",
            target=str(grant.id),
            detail={"user": str(grant.user_id)},
        )
    return len(due)
