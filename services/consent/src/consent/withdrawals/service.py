"""Withdrawals of consent (C4): the network's rule, the withdrawal itself and its cascade, which the other
services report done step by step. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.consent import ConsentWithdrawnV1
from yui_common.problems import conflict

from consent import lifecycle
from consent.access import audit_subject, visible_subject
from consent.consents import repository as consent_repository
from consent.models import CascadeStep, Withdrawal
from consent.subjects.changes import SUPPORT_STOPPED, set_subject_status
from consent.withdrawals import repository
from consent.withdrawals.schemas import CascadeStepRead, WithdrawalRead

# A federated peer network's row of a cascade is named "peer:<its network name>" (issue 12).
PEER_STEP_PREFIX = "peer:"


async def withdrawal_mode(session: AsyncSession, *, tenant: str, default: str) -> str:
    """C4: the network decides whether withdrawal stops (支援中止) or deletes shared data."""
    network = await repository.network(session, tenant=tenant)
    return network.withdrawal_mode if network is not None else default


async def withdraw_consent(
    session: AsyncSession,
    *,
    principal: Principal,
    subject_id: UUID,
    requested_by: str,
    requester_name: str | None,
    requester_relation: str | None,
    participants: tuple[str, ...],
    mode: str,
) -> WithdrawalRead:
    """Withdraw the active consent and start the cascade; the event commits with the withdrawal."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    consent = await consent_repository.active_consent(session, subject_id=subject.id, lock=True)
    if consent is None:
        raise conflict("The subject has no active consent to withdraw.", "no-active-consent")
    now = datetime.now(UTC)
    consent.status = lifecycle.next_consent_status(consent.status, lifecycle.ConsentAction.WITHDRAW)
    consent.withdrawn_at = now
    event = ConsentWithdrawnV1(
        subject_id=subject.id, consent_id=consent.id, withdrawal_id=uuid7(), withdrawn_at=now, mode=mode
    )
    withdrawal = Withdrawal(
        id=event.withdrawal_id,
        tenant=subject.tenant,
        subject_id=subject.id,
        consent_id=consent.id,
        requested_by=requested_by,
        requester_name=requester_name,
        requester_relation=requester_relation,
        taken_by=principal.user_id,
        mode=mode,
        requested_at=now,
        event_id=uuid7(),
    )
    session.add(withdrawal)
    await session.flush()
    steps = [
        CascadeStep(withdrawal_id=withdrawal.id, service=svc, status="pending", started_at=now)
        for svc in participants
    ]
    session.add_all(steps)
    await set_subject_status(session, subject, SUPPORT_STOPPED)
    envelope = await outbox.add_event(session, event, tenant=subject.tenant, subject=str(subject.id))
    withdrawal.event_id = envelope.id
    await audit_subject(
        session, principal, "consent.withdraw", subject.id, withdrawal=str(withdrawal.id), mode=mode
    )
    await session.flush()
    return _withdrawal_read(withdrawal, steps)


def _withdrawal_read(withdrawal: Withdrawal, steps: list[CascadeStep]) -> WithdrawalRead:
    return WithdrawalRead(
        id=withdrawal.id,
        subject_id=withdrawal.subject_id,
        consent_id=withdrawal.consent_id,
        mode=withdrawal.mode,
        requested_at=withdrawal.requested_at,
        complete=all(s.status == "done" for s in steps),
        steps=[_step_read(s) for s in steps],
    )


PEER_ACKNOWLEDGEMENT_S = 60.0


def _step_read(step: CascadeStep, now: datetime | None = None) -> CascadeStepRead:
    read = CascadeStepRead.model_validate(step)
    read.overdue = (
        step.service.startswith(PEER_STEP_PREFIX)
        and step.status == "pending"
        and ((now or datetime.now(UTC)) - step.started_at).total_seconds() > PEER_ACKNOWLEDGEMENT_S
    )
    return read


async def subject_withdrawals(
    session: AsyncSession, *, principal: Principal, subject_id: UUID
) -> list[WithdrawalRead]:
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    withdrawals = await repository.withdrawals_of(session, subject_id=subject.id)
    steps = await repository.cascade_steps(session, withdrawal_ids=[w.id for w in withdrawals])
    await audit_subject(session, principal, "consent.cascade.read", subject.id)
    return [_withdrawal_read(w, [s for s in steps if s.withdrawal_id == w.id]) for w in withdrawals]


async def incomplete_cascades(session: AsyncSession, *, principal: Principal) -> list[WithdrawalRead]:
    withdrawals = await repository.incomplete_withdrawals(session, tenant=principal.tenant)
    steps = await repository.cascade_steps(session, withdrawal_ids=[w.id for w in withdrawals])
    return [_withdrawal_read(w, [s for s in steps if s.withdrawal_id == w.id]) for w in withdrawals]


async def overdue_peer_acknowledgements(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Peer networks told to purge a withdrawn subject more than a minute ago that have not acknowledged."""
    return await repository.pending_peer_steps_since(
        session,
        prefix=PEER_STEP_PREFIX,
        before=(now or datetime.now(UTC)) - timedelta(seconds=PEER_ACKNOWLEDGEMENT_S),
    )


async def cascade_backlog(session: AsyncSession, *, now: datetime | None = None) -> tuple[int, float]:
    """For the operators' alert (C4 within minutes): withdrawals not yet done by every service, and how long
    the oldest of them has waited, in seconds (0 when none waits)."""
    count, oldest = await repository.incomplete_backlog(session)
    if oldest is None:
        return count, 0.0
    return count, max(0.0, ((now or datetime.now(UTC)) - oldest).total_seconds())


async def record_cascade_step_done(
    session: AsyncSession, *, withdrawal_id: UUID, service: str, completed_at: datetime, items_affected: int
) -> bool:
    return await repository.complete_step(
        session,
        withdrawal_id=withdrawal_id,
        service=service,
        completed_at=completed_at,
        items_affected=items_affected,
    )


async def record_peer_step(
    session: AsyncSession,
    *,
    withdrawal_id: UUID,
    peer: str,
    done: bool,
    at: datetime,
    items_affected: int | None,
) -> None:
    """A federated peer network as a row of the cascade (issue 12, fed3): pending until it acknowledges."""
    await repository.upsert_peer_step(
        session,
        withdrawal_id=withdrawal_id,
        service=f"{PEER_STEP_PREFIX}{peer}"[:200],
        done=done,
        at=at,
        items_affected=items_affected,
    )
