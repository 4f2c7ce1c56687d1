"""Notify's use cases: who is told, once per event, and the cascade report in the same transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from notify import repository, service
from sqlalchemy import text
from uuid6 import uuid7
from yui_common import outbox
from yui_common.events.consent import ConsentWithdrawnV1

from tests.support.stack import Stack


class TestNotifyTeam:
    async def test_each_member_is_told_once_per_event_and_the_excluded_author_not_at_all(
        self, stack: Stack
    ) -> None:
        subject_id, event_id = uuid7(), uuid7()
        author, others = uuid4(), [uuid4(), uuid4()]
        async with stack["notify"].sessionmaker() as session, session.begin():
            for user_id in (author, *others):
                await repository.add_member(session, tenant="demo", subject_id=subject_id, user_id=user_id)
            first = await service.notify_team(
                session,
                tenant="demo",
                subject_id=subject_id,
                kind="post.created",
                source_event_id=event_id,
                exclude=author,
            )
            again = await service.notify_team(
                session,
                tenant="demo",
                subject_id=subject_id,
                kind="post.created",
                source_event_id=event_id,
                exclude=author,
            )
            assert (first, again) == (2, 0)
            told = (
                (
                    await session.execute(
                        text("SELECT user_id FROM notifications WHERE subject_id = :s"), {"s": subject_id}
                    )
                )
                .scalars()
                .all()
            )
            assert sorted(told) == sorted(others)
            await session.rollback()


class TestSupportStopped:
    async def test_the_team_is_told_and_the_report_is_staged_with_the_count(self, stack: Stack) -> None:
        subject_id = uuid7()
        withdrawal = ConsentWithdrawnV1(
            subject_id=subject_id, consent_id=uuid7(), withdrawal_id=uuid7(), withdrawn_at=datetime.now(UTC)
        )
        async with stack["notify"].sessionmaker() as session, session.begin():
            for _ in range(3):
                await repository.add_member(session, tenant="demo", subject_id=subject_id, user_id=uuid4())
            assert (
                await service.support_stopped(session, tenant="demo", event_id=uuid7(), withdrawal=withdrawal)
                == 3
            )
            await outbox.stage_pending(session)  # events are written at commit; read them now
            report = (
                await session.execute(
                    text(
                        "SELECT envelope FROM outbox WHERE event_type = 'notify.support-stopped.v1' "
                        "AND envelope->>'subject' = :s"
                    ),
                    {"s": str(subject_id)},
                )
            ).scalar_one()
            assert report["data"]["withdrawal_id"] == str(withdrawal.withdrawal_id)
            assert report["data"]["items_affected"] == 3
            await session.rollback()
