"""f8: withdrawing consent cascades through timeline and notify and is shown complete in consent."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from sqlalchemy import func, select, text
from yui_common.events import Envelope
from yui_common.events.consent import ConsentWithdrawnV1

from tests.support.bus import publish_direct
from tests.support.stack import Stack, Staff, eventually


async def register_subject_with_team(stack: Stack, author: Staff, *colleagues: Staff) -> UUID:
    consent = stack["consent"].client
    response = await consent.post(
        "/subjects",
        json={
            "name": "結 一郎",
            "name_kana": "ユイ イチロウ",
            "birth_date": "1940-01-02",
            "municipality_code": "232360",
            # The same person on purpose, test after test: not a duplicate to be refused (c9).
            "confirm_not_duplicate": True,
        },
        headers=author.headers,
    )
    assert response.status_code == 201, response.text
    subject_id = UUID(response.json()["id"])
    for colleague in colleagues:
        added = await consent.post(
            f"/subjects/{subject_id}/care-team",
            json={"user_id": str(colleague.user_id), "facility_id": str(colleague.facility_id)},
            headers=author.headers,
        )
        assert added.status_code == 201, added.text
        # Invited members join (and see the subject) only by accepting.
        accepted = await consent.post(
            f"/care-team/invitations/{added.json()['id']}/accept", headers=colleague.headers
        )
        assert accepted.status_code == 200, accepted.text
    given = await consent.post(
        f"/subjects/{subject_id}/consents",
        json={"given_by": "subject", "given_on": str(date.today())},
        headers=author.headers,
    )
    assert given.status_code == 201, given.text
    return subject_id


async def post_when_allowed(stack: Stack, staff: Staff, subject_id: UUID, body: str) -> dict:
    async def attempt() -> dict | None:
        response = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/posts", json={"category": "visit", "body": body}, headers=staff.headers
        )
        return response.json() if response.status_code == 201 else None

    return await eventually(attempt, what="timeline to learn of the consent and care team")


class TestWithdrawalCascade:
    async def test_f8_withdrawal_reaches_every_service_and_shows_complete(self, stack: Stack) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        subject_id = await register_subject_with_team(stack, doctor, nurse)
        for n in range(3):
            await post_when_allowed(stack, nurse, subject_id, f"訪問記録 {n}")

        withdrawn = await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
        )
        assert withdrawn.status_code == 201, withdrawn.text
        assert {s["service"]: s["status"] for s in withdrawn.json()["steps"]} == {
            "timeline": "pending",
            "notify": "pending",
            # Federation refuses peers' fetches and tells every peer holding a referral (here none): issue 12.
            "federation": "pending",
        }

        async def cascade_complete() -> dict | None:
            listed = await stack["consent"].client.get(
                f"/subjects/{subject_id}/withdrawals", headers=doctor.headers
            )
            latest = listed.json()[0]
            return latest if latest["complete"] else None

        latest = await eventually(cascade_complete, what="the cascade to complete")
        steps = {s["service"]: s for s in latest["steps"]}
        assert steps["timeline"]["items_affected"] == 3
        assert steps["notify"]["items_affected"] == 2
        assert steps["federation"]["items_affected"] == 0  # no referral of the subject to withdraw
        assert all(s["completed_at"] for s in steps.values())

        posts = await stack["timeline"].client.get(f"/subjects/{subject_id}/posts", headers=nurse.headers)
        assert posts.status_code == 410
        assert posts.json()["type"] == "urn:yui:problem:support-stopped"
        refused = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/posts", json={"body": "追記"}, headers=nurse.headers
        )
        assert refused.status_code == 410
        inbox = (await stack["notify"].client.get("/notifications", headers=nurse.headers)).json()
        assert [n["kind"] for n in inbox["items"] if n["subject_id"] == str(subject_id)] == [
            "subject.support_stopped"
        ]

    async def test_f8_replaying_the_withdrawal_event_changes_nothing(self, stack: Stack) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        subject_id = await register_subject_with_team(stack, doctor, nurse)
        await post_when_allowed(stack, nurse, subject_id, "記録")
        await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
        )

        async def withdrawal_event() -> Envelope | None:
            async with stack["consent"].sessionmaker() as session:
                row = (
                    await session.execute(
                        text(
                            "SELECT envelope FROM outbox WHERE event_type = :t AND envelope->>'subject' = :s "
                            "AND published_at IS NOT NULL"
                        ),
                        {"t": ConsentWithdrawnV1.event_type, "s": str(subject_id)},
                    )
                ).first()
            return Envelope.model_validate(row[0]) if row else None

        envelope = await eventually(withdrawal_event, what="the withdrawal event to be published")

        async def cascade_complete() -> bool:
            listed = await stack["consent"].client.get(
                f"/subjects/{subject_id}/withdrawals", headers=doctor.headers
            )
            return bool(listed.json()[0]["complete"])

        await eventually(cascade_complete, what="the cascade to complete")
        before = await snapshot(stack, subject_id)

        # The broker delivers the very same event again to both consumers.
        for service in ("timeline", "notify"):
            worker = stack[service].worker
            assert worker is not None and worker.runner is not None
            subscription = worker.runner.subscriptions[0]
            async with worker.sessionmaker() as session, session.begin():
                from yui_common import inbox

                assert not await inbox.claim(
                    session, consumer=subscription.queue, message_id=envelope.id, event_type=envelope.type
                )
        replay_seen = duplicates_seen()
        await republish(stack, envelope)
        await eventually(
            lambda: duplicates_seen() >= replay_seen + 2, what="both consumers to drop the replay"
        )
        assert await snapshot(stack, subject_id) == before


async def republish(stack: Stack, envelope: Envelope) -> None:
    settings = stack["consent"].settings
    await publish_direct(settings.amqp_url, envelope, exchange=settings.exchange)


def duplicates_seen() -> float:
    """Messages the cascade's consumers recognised as already handled (their inbox said so)."""
    from yui_common.metrics import CONSUMED

    return sum(
        CONSUMED.labels(queue, "duplicate")._value.get()  # type: ignore[attr-defined]
        for queue in ("timeline.consent-events", "notify.consent-events")
    )


async def snapshot(stack: Stack, subject_id: UUID) -> tuple:
    async with stack["timeline"].sessionmaker() as session:
        posts = (
            await session.execute(
                text("SELECT id, support_stopped_at FROM posts WHERE subject_id = :s ORDER BY id"),
                {"s": subject_id},
            )
        ).all()
        timeline_outbox = (
            await session.execute(
                text("SELECT count(*) FROM outbox WHERE envelope->>'subject' = :s"), {"s": str(subject_id)}
            )
        ).scalar()
    async with stack["notify"].sessionmaker() as session:
        from notify.models import Notification

        notifications = (
            await session.execute(select(func.count()).where(Notification.subject_id == subject_id))
        ).scalar()
    async with stack["consent"].sessionmaker() as session:
        steps = (
            await session.execute(
                text(
                    "SELECT service, status, completed_at FROM cascade_steps s JOIN withdrawals w "
                    "ON w.id = s.withdrawal_id WHERE w.subject_id = :s ORDER BY service"
                ),
                {"s": subject_id},
            )
        ).all()
    return (tuple(posts), timeline_outbox, notifications, tuple(steps))
