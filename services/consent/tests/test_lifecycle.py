"""Consent and withdrawal as state machines, property-tested (hypothesis) in the model and on the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

from consent import lifecycle
from consent.withdrawals.service import record_cascade_step_done, subject_withdrawals
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import outbox
from yui_common.problems import Problem

from services.consent.tests.consent_support import (
    give_consent,
    register_subject,
    staff_principal,
    withdraw_consent,
)
from tests.support.stack import Stack

PARTICIPANTS = ("timeline", "notify")


class ConsentLifecycleModel(RuleBasedStateMachine):
    """The pure transition tables: withdrawn is terminal; a cascade step, once done, stays done."""

    def __init__(self) -> None:
        super().__init__()
        self.consents: list[str] = []
        self.steps: dict[str, str] = {}

    @rule()
    def give(self) -> None:
        if lifecycle.may_give_consent(self.consents):
            self.consents.append(lifecycle.ConsentStatus.ACTIVE)

    @rule(index=st.integers(min_value=0, max_value=20))
    def withdraw(self, index: int) -> None:
        if not self.consents:
            return
        index %= len(self.consents)
        before = self.consents[index]
        try:
            self.consents[index] = lifecycle.next_consent_status(before, lifecycle.ConsentAction.WITHDRAW)
        except lifecycle.InvalidTransition:
            assert before == lifecycle.ConsentStatus.WITHDRAWN
        else:
            assert before == lifecycle.ConsentStatus.ACTIVE
            for service_name in PARTICIPANTS:
                self.steps[f"{index}:{service_name}"] = lifecycle.StepStatus.PENDING

    @rule(data=st.data())
    def report(self, data: st.DataObject) -> None:
        if self.steps:
            key = data.draw(st.sampled_from(sorted(self.steps)))
            self.steps[key] = lifecycle.next_step_status(self.steps[key], lifecycle.StepAction.REPORT_DONE)

    @invariant()
    def at_most_one_active_consent(self) -> None:
        assert self.consents.count(lifecycle.ConsentStatus.ACTIVE) <= 1

    @invariant()
    def only_the_newest_consent_can_be_active(self) -> None:
        assert lifecycle.ConsentStatus.ACTIVE not in self.consents[:-1]


TestConsentLifecycleModel = ConsentLifecycleModel.TestCase
TestConsentLifecycleModel.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)

OPERATIONS = st.lists(
    st.sampled_from(
        ["give", "give_by_proxy", "withdraw", "report_timeline", "report_notify", "replay_report"]
    ),
    min_size=1,
    max_size=14,
)


async def run_sequence(stack: Stack, operations: list[str]) -> None:
    """Apply the operations through the real use cases and check every invariant after each one; roll back."""
    who = staff_principal()
    async with stack["consent"].sessionmaker() as session, session.begin():
        subject = await register_subject(session, who, name="状態 機械", name_kana="ジョウタイ キカイ")
        ever_withdrawn: set[UUID] = set()
        done_steps: set[tuple[UUID, str]] = set()
        expected_active = False
        for operation in operations:
            if operation in ("give", "give_by_proxy"):
                try:
                    await give_consent(
                        session,
                        who,
                        subject.id,
                        given_by="proxy" if operation == "give_by_proxy" else "subject",
                        proxy_name="代理 人",
                        proxy_relation="長女",
                    )
                    assert not expected_active, "a second active consent was accepted"
                    expected_active = True
                except Problem as refused:
                    assert expected_active and refused.status == 409
            elif operation == "withdraw":
                try:
                    await withdraw_consent(session, who, subject.id, participants=PARTICIPANTS)
                    assert expected_active, "a withdrawal without an active consent was accepted"
                    expected_active = False
                except Problem as refused:
                    assert not expected_active and refused.status == 409
            else:
                withdrawals = await subject_withdrawals(session, principal=who, subject_id=subject.id)
                if withdrawals:
                    target = withdrawals[0].id
                    name = "notify" if operation == "report_notify" else "timeline"
                    changed = await record_cascade_step_done(
                        session,
                        withdrawal_id=target,
                        service=name,
                        completed_at=datetime.now(UTC),
                        items_affected=1,
                    )
                    assert changed == ((target, name) not in done_steps)
                    done_steps.add((target, name))
            await check_invariants(session, subject.id, ever_withdrawn, done_steps, expected_active)
        await session.rollback()


async def check_invariants(
    session: AsyncSession,
    subject_id: UUID,
    ever_withdrawn: set[UUID],
    done_steps: set[tuple[UUID, str]],
    expected_active: bool,
) -> None:
    consents = (
        await session.execute(
            text("SELECT id, status FROM consents WHERE subject_id = :s"), {"s": subject_id}
        )
    ).all()
    active = [c.id for c in consents if c.status == "active"]
    assert len(active) == int(expected_active)
    withdrawn = {c.id for c in consents if c.status == "withdrawn"}
    assert ever_withdrawn <= withdrawn, "a withdrawn consent came back to life"
    ever_withdrawn |= withdrawn
    withdrawals = (
        (
            await session.execute(
                text("SELECT consent_id FROM withdrawals WHERE subject_id = :s"), {"s": subject_id}
            )
        )
        .scalars()
        .all()
    )
    assert sorted(withdrawals) == sorted(withdrawn), "each withdrawn consent has exactly one withdrawal"
    await outbox.stage_pending(session)  # events are written at commit; read them now
    events = (
        await session.execute(
            text(
                "SELECT count(*) FROM outbox WHERE event_type = 'consent.withdrawn.v1' "
                "AND envelope->>'subject' = :s"
            ),
            {"s": str(subject_id)},
        )
    ).scalar_one()
    assert events == len(withdrawals), "one consent.withdrawn.v1 per withdrawal, in its transaction"
    steps = (
        await session.execute(
            text(
                "SELECT st.withdrawal_id, st.service, st.status FROM cascade_steps st "
                "JOIN withdrawals w ON w.id = st.withdrawal_id WHERE w.subject_id = :s"
            ),
            {"s": subject_id},
        )
    ).all()
    assert {(s.withdrawal_id, s.service) for s in steps if s.status == "done"} == done_steps


class TestConsentLifecycleOnTheDatabase:
    async def test_c4_no_sequence_of_operations_revives_a_withdrawn_consent_or_makes_two_active(
        self, stack: Stack
    ) -> None:
        loop = asyncio.get_running_loop()
        tried: list[int] = []

        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(operations=OPERATIONS)
        def sequences(operations: list[str]) -> None:
            tried.append(len(operations))
            asyncio.run_coroutine_threadsafe(run_sequence(stack, operations), loop).result(60)

        # hypothesis runs in a worker thread; each sequence runs on the loop where the engine lives.
        await asyncio.to_thread(sequences)
        assert len(tried) >= 20
