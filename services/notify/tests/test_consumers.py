"""Notify's consumer of consent's events, through the real broker and worker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from notify.consumers.consent import subscription
from notify.models import CareTeamMember, Notification
from sqlalchemy import func, select, text
from uuid6 import uuid7
from yui_common.events import Envelope, envelope_for
from yui_common.events.consent import CareTeamMemberAddedV1, ConsentWithdrawnV1
from yui_common.metrics import CONSUMED

from tests.support.bus import publish_direct
from tests.support.stack import Stack, eventually

QUEUE = subscription.queue


async def deliver_to_notify(stack: Stack, envelope: Envelope) -> None:
    """Straight into notify's queue (default exchange), as the broker delivers a redelivery."""
    await publish_direct(stack["notify"].settings.amqp_url, envelope, queue=QUEUE)


def handled(outcome: str) -> float:
    return CONSUMED.labels(QUEUE, outcome)._value.get()  # type: ignore[attr-defined,no-any-return]


async def count(stack: Stack, model: Any, subject_id: UUID) -> int:
    async with stack["notify"].sessionmaker() as session:
        return int(
            (await session.execute(select(func.count()).where(model.subject_id == subject_id))).scalar_one()
        )


class TestConsentWithdrawn:
    async def test_a_replayed_withdrawal_event_adds_no_second_notification(self, stack: Stack) -> None:
        subject_id = uuid7()
        members = [uuid7(), uuid7()]
        for user_id in members:
            await deliver_to_notify(
                stack,
                envelope_for(CareTeamMemberAddedV1(subject_id=subject_id, user_id=user_id), tenant="demo"),
            )

        async def team_known() -> bool:
            return await count(stack, CareTeamMember, subject_id) == 2

        await eventually(team_known, what="notify to learn of the team")

        withdrawn = envelope_for(
            ConsentWithdrawnV1(
                subject_id=subject_id,
                consent_id=uuid7(),
                withdrawal_id=uuid7(),
                withdrawn_at=datetime.now(UTC),
            ),
            tenant="demo",
            subject=str(subject_id),
        )
        await deliver_to_notify(stack, withdrawn)

        async def told() -> bool:
            return await count(stack, Notification, subject_id) == 2

        await eventually(told, what="the care team to be told")
        duplicates_before = handled("duplicate")
        await deliver_to_notify(stack, withdrawn)
        await eventually(lambda: handled("duplicate") > duplicates_before, what="the replay to be recognised")

        assert await count(stack, Notification, subject_id) == 2
        async with stack["notify"].sessionmaker() as session:
            reports = (
                await session.execute(
                    text("SELECT count(*) FROM outbox WHERE envelope->>'subject' = :s"),
                    {"s": str(subject_id)},
                )
            ).scalar_one()
        assert reports == 1  # one cascade report, not one per delivery
