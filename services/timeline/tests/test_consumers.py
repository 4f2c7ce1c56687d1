"""Timeline's consumers of consent's events, through the real broker and worker."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text
from timeline.consumers.consent import subscription
from uuid6 import uuid7
from yui_common.events import Envelope, EventData, envelope_for
from yui_common.events.consent import CareTeamMemberAddedV1, ConsentGivenV1, ConsentWithdrawnV1

from tests.support.bus import publish_direct
from tests.support.stack import Stack, eventually


async def publish(stack: Stack, data: EventData, subject_id: UUID) -> Envelope:
    """As consent's relay would: onto the exchange, routed by event type."""
    envelope = envelope_for(data, tenant="demo", subject=str(subject_id))
    settings = stack["timeline"].settings
    await publish_direct(settings.amqp_url, envelope, exchange=settings.exchange)
    return envelope


async def access(stack: Stack, subject_id: UUID) -> tuple[bool, bool] | None:
    async with stack["timeline"].sessionmaker() as session:
        row = (
            await session.execute(
                text("SELECT consent_active, support_stopped_at FROM subject_access WHERE subject_id = :s"),
                {"s": subject_id},
            )
        ).first()
    return (row.consent_active, row.support_stopped_at is not None) if row else None


class TestConsentEvents:
    def test_the_queue_hears_every_event_that_changes_who_may_see_a_subject(self) -> None:
        assert set(subscription.routing_keys) >= {
            "consent.given.v1",
            "consent.withdrawn.v1",
            "consent.care-team-member-added.v1",
            "consent.care-team-member-removed.v1",
        }

    async def test_team_then_consent_then_withdrawal_move_the_projection_and_report_back(
        self, stack: Stack
    ) -> None:
        subject_id, user_id = uuid7(), uuid7()
        await publish(stack, CareTeamMemberAddedV1(subject_id=subject_id, user_id=user_id), subject_id)
        await eventually(lambda: access(stack, subject_id), what="the team event")
        assert await access(stack, subject_id) == (False, False)

        await publish(
            stack,
            ConsentGivenV1(subject_id=subject_id, consent_id=uuid7(), given_at=datetime.now(UTC)),
            subject_id,
        )

        async def consented() -> bool:
            return await access(stack, subject_id) == (True, False)

        await eventually(consented, what="the consent event")

        withdrawal = ConsentWithdrawnV1(
            subject_id=subject_id, consent_id=uuid7(), withdrawal_id=uuid7(), withdrawn_at=datetime.now(UTC)
        )
        await publish(stack, withdrawal, subject_id)

        async def stopped() -> bool:
            return await access(stack, subject_id) == (False, True)

        await eventually(stopped, what="the withdrawal event")

        async def report() -> dict | None:
            async with stack["timeline"].sessionmaker() as session:
                return (
                    await session.execute(
                        text(
                            "SELECT envelope FROM outbox WHERE event_type = 'timeline.support-stopped.v1' "
                            "AND envelope->>'subject' = :s"
                        ),
                        {"s": str(subject_id)},
                    )
                ).scalar()

        sent = await eventually(report, what="the support-stopped report")
        assert sent["data"]["withdrawal_id"] == str(withdrawal.withdrawal_id)
        assert sent["data"]["items_affected"] == 0
