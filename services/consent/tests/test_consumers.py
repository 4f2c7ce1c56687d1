"""Consent's consumer: other services' reports that their part of a withdrawal cascade is done."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from consent.consumers.cascade import on_support_stopped, subscription
from consent.withdrawals import service as withdrawals
from yui_common.auth import Principal
from yui_common.events import envelope_for
from yui_common.events.federation import FederationPeerWithdrawalV1, FederationSupportStoppedV1
from yui_common.events.notify import NotifySupportStoppedV1
from yui_common.events.timeline import TimelineSupportStoppedV1

from services.consent.tests.consent_support import open_withdrawal
from tests.support.stack import Stack


class TestSupportStoppedReports:
    def test_the_queue_listens_to_every_participants_report(self) -> None:
        assert set(subscription.routing_keys) == {
            TimelineSupportStoppedV1.event_type,
            NotifySupportStoppedV1.event_type,
            FederationSupportStoppedV1.event_type,
            # Each federated peer network's row (issue 12).
            FederationPeerWithdrawalV1.event_type,
        }

    async def test_each_report_completes_the_step_of_the_service_that_sent_it(self, stack: Stack) -> None:
        who = Principal(user_id=uuid4(), tenant="demo", facility_id=uuid4())
        async with stack["consent"].sessionmaker() as session, session.begin():
            withdrawal = await open_withdrawal(session, who)
            reports = [
                TimelineSupportStoppedV1(
                    subject_id=withdrawal.subject_id,
                    withdrawal_id=withdrawal.id,
                    items_affected=4,
                    completed_at=datetime.now(UTC),
                ),
                NotifySupportStoppedV1(
                    subject_id=withdrawal.subject_id,
                    withdrawal_id=withdrawal.id,
                    items_affected=2,
                    completed_at=datetime.now(UTC),
                ),
            ]
            completeness = []
            for report in reports:
                envelope = envelope_for(report, tenant="demo", subject=str(withdrawal.subject_id))
                await on_support_stopped(session, envelope, report)
                [read] = await withdrawals.subject_withdrawals(
                    session, principal=who, subject_id=withdrawal.subject_id
                )
                completeness.append(read.complete)
            assert completeness == [False, True]
            assert {s.service: s.items_affected for s in read.steps} == {"timeline": 4, "notify": 2}
            await session.rollback()

    async def test_a_replayed_report_changes_nothing(self, stack: Stack) -> None:
        who = Principal(user_id=uuid4(), tenant="demo", facility_id=uuid4())
        async with stack["consent"].sessionmaker() as session, session.begin():
            withdrawal = await open_withdrawal(session, who)
            first = TimelineSupportStoppedV1(
                subject_id=withdrawal.subject_id,
                withdrawal_id=withdrawal.id,
                items_affected=4,
                completed_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
            late = first.model_copy(update={"items_affected": 9, "completed_at": datetime.now(UTC)})
            for report in (first, late):
                await on_support_stopped(session, envelope_for(report, tenant="demo"), report)
            [read] = await withdrawals.subject_withdrawals(
                session, principal=who, subject_id=withdrawal.subject_id
            )
            timeline = next(s for s in read.steps if s.service == "timeline")
            assert (timeline.items_affected, timeline.completed_at) == (4, first.completed_at)
            await session.rollback()

    async def test_a_report_for_an_unknown_withdrawal_changes_nothing(self, stack: Stack) -> None:
        report = TimelineSupportStoppedV1(
            subject_id=uuid4(), withdrawal_id=uuid4(), items_affected=1, completed_at=datetime.now(UTC)
        )
        async with stack["consent"].sessionmaker() as session, session.begin():
            await on_support_stopped(session, envelope_for(report, tenant="demo"), report)
            assert not await withdrawals.record_cascade_step_done(
                session,
                withdrawal_id=report.withdrawal_id,
                service="timeline",
                completed_at=report.completed_at,
                items_affected=1,
            )
