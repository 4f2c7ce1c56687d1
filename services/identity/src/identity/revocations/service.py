"""Revocation use cases: apply identity's own deny list at once, track each service's acknowledgement, wait
for them, list the unfinished ones. Never commits.

identity's own API checks the same deny list as every service (`yui_common.auth`), so every revocation and
reinstatement event it stages is applied to its own table in the same transaction (`announce`). A revocation
the request waits for (`revoke_everywhere`) also gets an id, carried by its event as ``revocation_id``, and a
pending step per participating service, which that service's acknowledgement completes.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import outbox
from yui_common import revocations as deny_list
from yui_common.auth import Principal
from yui_common.events import Envelope, EventData
from yui_common.events.identity import (
    CertificateRevokedV1,
    FacilityDisabledV1,
    SessionRevokedV1,
    UserDisabledV1,
    UserSuspendedV1,
)

from identity.models import Revocation, RevocationStep
from identity.revocations import repository
from identity.revocations.schemas import Propagation, RevocationRead, RevocationStepRead, ServicePropagation
from identity.settings import environment_settings

# Where a unit of work keeps the ids of the revocations its request must wait for (Session.info is the
# session's own dictionary): the use cases that revoke sit deep below the router (a suspension ends
# sessions; replacing a user suspends the old one), so they leave the ids here rather than return them.
AWAITED = "identity.awaited_revocations"
# The longest pause between two looks at the acknowledgements (the first is the setting's poll interval).
MAX_POLL_INTERVAL_S = 0.25


def _denied(data: EventData) -> tuple[str, str]:
    """The deny-list entry a revocation event makes: its kind and the id or fingerprint it names."""
    match data:
        case UserSuspendedV1() | UserDisabledV1():
            return "user", str(data.user_id)
        case FacilityDisabledV1():
            return "facility", str(data.facility_id)
        case SessionRevokedV1():
            return "session", str(data.session_id)
        case CertificateRevokedV1():
            return "certificate", data.fingerprint_sha256.lower()
    raise ValueError(f"{data.event_type} revokes nothing")


async def announce(session: AsyncSession, data: EventData, *, tenant: str) -> Envelope:
    """Stage a revocation or reinstatement event and apply it to identity's own deny list in the same
    transaction: identity's next request sees it without waiting for its own event."""
    envelope = await outbox.add_event(session, data, tenant=tenant)
    await deny_list.apply(session, envelope)
    return envelope


async def revoke_everywhere(
    session: AsyncSession, data: EventData, *, tenant: str, reason: str, requested_by: str
) -> UUID:
    """`announce`, and have the request wait until every participating service holds the entry."""
    revocation_id = uuid7()
    kind, target = _denied(data)
    session.add(
        Revocation(
            id=revocation_id,
            tenant=tenant,
            kind=kind,
            target=target,
            reason=reason,
            requested_by=requested_by,
            requested_at=datetime.now(UTC),
        )
    )
    await session.flush()
    session.add_all(
        RevocationStep(revocation_id=revocation_id, service=service)
        for service in environment_settings().revocation_participants
    )
    await announce(session, data.model_copy(update={"revocation_id": revocation_id}), tenant=tenant)
    session.info.setdefault(AWAITED, []).append(revocation_id)
    return revocation_id


def awaited_revocations(session: AsyncSession) -> list[UUID]:
    """The revocations this unit of work made that its request waits for (taken: asked once)."""
    awaited: list[UUID] = session.info.pop(AWAITED, [])
    return awaited


async def await_propagation(
    session: AsyncSession,
    *,
    revocation_ids: Sequence[UUID],
    committed_at: datetime,
    timeout_s: float,
    poll_interval_s: float,
    max_poll_interval_s: float = MAX_POLL_INTERVAL_S,
) -> Propagation:
    """Look at the acknowledgements until all are in or ``timeout_s`` has passed: first after
    ``poll_interval_s``, then twice as long each time up to ``max_poll_interval_s``.

    Each look is a transaction of its own (ended at once), so no connection is held between looks and each
    sees what the worker committed since. The backoff keeps the fast case fast (the workers usually answer
    within tens of milliseconds) without a checkout, a query and a commit every 10 ms for a slow one. This
    bounds only the looks; the caller bounds the whole wait (a checkout can block far longer).
    """
    deadline = time.monotonic() + timeout_s
    interval = poll_interval_s
    while True:
        rows = await repository.step_rows(session, revocation_ids=revocation_ids)
        await session.commit()
        remaining = deadline - time.monotonic()
        if all(row.applied_at is not None for row in rows) or remaining <= 0:
            break
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 2, max_poll_interval_s)
    # With several revocations in one request, a service holds them all once its last one is acknowledged.
    acknowledged: dict[str, list[datetime | None]] = defaultdict(list)
    for row in rows:
        acknowledged[row.service].append(row.applied_at)
    latest = {
        svc: None if None in times else max(t for t in times if t) for svc, times in acknowledged.items()
    }
    services = [
        ServicePropagation(
            service=service,
            applied_at=applied_at,
            after_ms=None
            if applied_at is None
            else round((applied_at - committed_at).total_seconds() * 1000, 1),
        )
        for service, applied_at in sorted(latest.items())
    ]
    pending = [s.service for s in services if s.applied_at is None]
    return Propagation(
        revocation_ids=list(revocation_ids),
        committed_at=committed_at,
        complete=not pending,
        services=services,
        pending=pending,
    )


def unconfirmed_propagation(
    *, revocation_ids: Sequence[UUID], committed_at: datetime, services: Sequence[str]
) -> Propagation:
    """What a request answers when it could not look at the acknowledgements: every participant pending."""
    return Propagation(
        revocation_ids=list(revocation_ids),
        committed_at=committed_at,
        complete=False,
        services=[ServicePropagation(service=s, applied_at=None, after_ms=None) for s in sorted(services)],
        pending=sorted(services),
    )


async def record_applied(
    session: AsyncSession, *, revocation_id: UUID, service: str, applied_at: datetime
) -> bool:
    return await repository.mark_applied(
        session, revocation_id=revocation_id, service=service, applied_at=applied_at
    )


def _revocation_read(revocation: Revocation, steps: list[RevocationStep]) -> RevocationRead:
    pending = [s.service for s in steps if s.applied_at is None]
    return RevocationRead(
        id=revocation.id,
        kind=revocation.kind,
        target=revocation.target,
        reason=revocation.reason,
        requested_by=revocation.requested_by,
        requested_at=revocation.requested_at,
        complete=not pending,
        pending=pending,
        steps=[RevocationStepRead.model_validate(s) for s in steps],
    )


async def incomplete_revocations(session: AsyncSession, *, principal: Principal) -> list[RevocationRead]:
    """For the operator: revocations some service has not acknowledged (its worker is down or behind)."""
    revocations = await repository.incomplete_revocations(session, tenant=principal.tenant)
    steps = await repository.steps_of(session, revocation_ids=[r.id for r in revocations])
    return [_revocation_read(r, [s for s in steps if s.revocation_id == r.id]) for r in revocations]


# An acknowledged revocation stays readable this long (the propagation of a suspension, for an inquiry);
# a logout makes one too, so they are not kept for ever.
KEEP_SETTLED_FOR = timedelta(days=30)


async def purge_settled(session: AsyncSession) -> int:
    return await repository.delete_settled_before(session, before=datetime.now(UTC) - KEEP_SETTLED_FOR)
