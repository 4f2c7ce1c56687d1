"""Consent's use cases: every change stages its event and its audit entry in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from consent.access import visible_subject
from consent.withdrawals import service as withdrawals
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.problems import Problem

from services.consent.tests.consent_support import (
    give_consent,
    register_subject,
    staff_principal,
    withdraw_consent,
)
from tests.support.stack import Stack


async def staged(session: AsyncSession, subject_id: UUID) -> list[tuple[str, str]]:
    """(outbox event types, audit actions) this transaction has written about the subject, in order."""
    await outbox.stage_pending(session)  # events are written at commit; read them now
    events = (
        (
            await session.execute(
                text("SELECT event_type FROM outbox WHERE envelope->>'subject' = :s ORDER BY created_at, id"),
                {"s": str(subject_id)},
            )
        )
        .scalars()
        .all()
    )
    await audit.write_staged(session)  # staged entries are written at commit; read them now
    actions = (
        (
            await session.execute(
                text("SELECT action FROM audit_log WHERE subject_id = :s ORDER BY seq"),
                {"s": str(subject_id)},
            )
        )
        .scalars()
        .all()
    )
    return [("event", e) for e in events] + [("audit", a) for a in actions]


class TestRegisterSubject:
    async def test_registrant_joins_the_care_team_and_the_change_is_announced_and_audited(
        self, stack: Stack
    ) -> None:
        who = staff_principal()
        async with stack["consent"].sessionmaker() as session, session.begin():
            subject = await register_subject(session, who)
            visible = await visible_subject(session, principal=who, subject_id=subject.id)
            assert visible.id == subject.id
            assert await staged(session, subject.id) == [
                ("event", "consent.subject-changed.v1"),
                ("event", "consent.care-team-member-added.v1"),
                ("audit", "subject.register"),
            ]
            await session.rollback()


class TestGiveConsent:
    async def test_consent_stages_consent_given_event_with_its_audit_entry(self, stack: Stack) -> None:
        who = staff_principal()
        async with stack["consent"].sessionmaker() as session, session.begin():
            subject = await register_subject(session, who)
            consent = await give_consent(session, who, subject.id)
            assert consent.status == "active" and consent.recorded_facility_id == who.facility_id
            assert ("event", "consent.given.v1") in await staged(session, subject.id)
            assert ("audit", "consent.give") in await staged(session, subject.id)
            with pytest.raises(Problem) as refused:
                await give_consent(session, who, subject.id)
            assert (refused.value.status, refused.value.slug) == (409, "consent-already-active")
            await session.rollback()

    async def test_outsider_cannot_give_consent(self, stack: Stack) -> None:
        who = staff_principal()
        async with stack["consent"].sessionmaker() as session, session.begin():
            subject = await register_subject(session, who)
            with pytest.raises(Problem) as refused:
                await give_consent(session, staff_principal(), subject.id)
            assert refused.value.status == 404
            await session.rollback()


class TestWithdrawConsent:
    async def test_withdrawal_opens_one_pending_step_per_participant_and_one_event(
        self, stack: Stack
    ) -> None:
        who = staff_principal()
        async with stack["consent"].sessionmaker() as session, session.begin():
            subject = await register_subject(session, who)
            await give_consent(session, who, subject.id)
            withdrawal = await withdraw_consent(
                session,
                who,
                subject.id,
                requested_by="proxy",
                requester_name="結 花子",
                requester_relation="長女",
            )
            assert not withdrawal.complete
            assert [(s.service, s.status) for s in withdrawal.steps] == [
                ("timeline", "pending"),
                ("notify", "pending"),
            ]
            await outbox.stage_pending(session)  # events are written at commit; read them now
            event = (
                await session.execute(
                    text(
                        "SELECT envelope FROM outbox WHERE event_type = 'consent.withdrawn.v1' "
                        "AND envelope->>'subject' = :s"
                    ),
                    {"s": str(subject.id)},
                )
            ).scalar_one()
            assert event["data"]["withdrawal_id"] == str(withdrawal.id)
            assert event["data"]["mode"] == "stop"
            assert ("audit", "consent.withdraw") in await staged(session, subject.id)
            await session.rollback()


class TestCascadeReports:
    async def test_a_step_is_completed_once_and_a_repeated_report_changes_nothing(self, stack: Stack) -> None:
        who = staff_principal()
        async with stack["consent"].sessionmaker() as session, session.begin():
            subject = await register_subject(session, who)
            await give_consent(session, who, subject.id)
            withdrawal = await withdraw_consent(session, who, subject.id)
            done_at = datetime(2026, 1, 1, tzinfo=UTC)
            assert await withdrawals.record_cascade_step_done(
                session,
                withdrawal_id=withdrawal.id,
                service="timeline",
                completed_at=done_at,
                items_affected=3,
            )
            assert not await withdrawals.record_cascade_step_done(
                session,
                withdrawal_id=withdrawal.id,
                service="timeline",
                completed_at=datetime.now(UTC),
                items_affected=99,
            )
            [read] = await withdrawals.subject_withdrawals(session, principal=who, subject_id=subject.id)
            steps = {s.service: s for s in read.steps}
            assert (steps["timeline"].status, steps["timeline"].items_affected) == ("done", 3)
            assert steps["timeline"].completed_at == done_at
            assert steps["notify"].status == "pending" and not read.complete
            await session.rollback()
