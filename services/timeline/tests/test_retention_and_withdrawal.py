"""T3 retention (the scheduled job, the operator's erasure) and C4 for timeline: support stopped hides posts
and files; deletion removes posts and their objects, and a replayed withdrawal changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text
from timeline.access import service as access
from timeline.retention import service as retention
from timeline.settings import NetworkPolicy
from timeline.worker import apply_retention
from uuid6 import uuid7
from yui_common import outbox
from yui_common.events.consent import ConsentWithdrawnV1

from services.timeline.tests.test_attachments import stored_objects, upload
from services.timeline.tests.test_consumers import publish
from services.timeline.tests.timeline_support import assert_problem, create_post, png_bytes, subject_with_team
from tests.support.bus import publish_direct
from tests.support.stack import Stack, eventually


async def backdate(stack: Stack, post_id: str, interval: str) -> None:
    async with stack["timeline"].sessionmaker() as session, session.begin():
        await session.execute(
            text(f"UPDATE posts SET created_at = now() - interval '{interval}' WHERE id = :p"), {"p": post_id}
        )


async def count(stack: Stack, sql: str, **params: object) -> int:
    async with stack["timeline"].sessionmaker() as session:
        return int((await session.execute(text(sql), params)).scalar() or 0)


async def post_with_image(stack: Stack, staff, subject_id: UUID, body: str) -> dict:  # type: ignore[no-untyped-def]
    attachment = (await upload(stack, staff, subject_id, png_bytes(), "写真.png")).json()
    return await create_post(stack, staff, subject_id, body, attachment_ids=[attachment["id"]])


class TestT3Retention:
    async def test_t3_the_job_removes_posts_past_the_networks_retention_with_their_files_and_audits(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        long_keeper = stack.staff(tenant="ten-year-network")
        stack["timeline"].settings.network_policies["ten-year-network"] = NetworkPolicy(retention_years=10)
        subject_id = await subject_with_team(stack, nurse)
        kept_elsewhere = await subject_with_team(stack, long_keeper)
        old = await post_with_image(stack, nurse, subject_id, "6年前の記録")
        recent = await create_post(stack, nurse, subject_id, "4年前の記録")
        other_network_old = await create_post(stack, long_keeper, kept_elsewhere, "6年前（10年保存）")
        await backdate(stack, old["id"], "5 years 1 day")
        await backdate(stack, recent["id"], "4 years")
        await backdate(stack, other_network_old["id"], "6 years")
        assert (
            len(await stored_objects(stack, f"demo/subjects/{subject_id}/")) == 2
        )  # the image, its thumbnail

        worker = stack["timeline"].worker
        assert worker is not None
        await apply_retention(worker)

        assert await count(stack, "SELECT count(*) FROM posts WHERE id = :p", p=old["id"]) == 0
        assert await count(stack, "SELECT count(*) FROM post_versions WHERE post_id = :p", p=old["id"]) == 0
        assert await count(stack, "SELECT count(*) FROM attachments WHERE subject_id = :s", s=subject_id) == 0
        assert await stored_objects(stack, f"demo/subjects/{subject_id}/") == []
        assert await count(stack, "SELECT count(*) FROM posts WHERE id = :p", p=recent["id"]) == 1
        assert await count(stack, "SELECT count(*) FROM posts WHERE id = :p", p=other_network_old["id"]) == 1
        audited = await count(
            stack,
            "SELECT count(*) FROM audit_log WHERE action = 'post.retention_erase' AND subject_id = :s "
            "AND actor_id = 'system:timeline-retention' AND (detail->>'posts')::int = 1",
            s=str(subject_id),
        )
        assert audited == 1

    async def test_t3_the_operator_erases_a_subjects_posts_or_a_period_and_staff_cannot(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        operator = stack.staff(roles=("operator",))
        first, second = await subject_with_team(stack, nurse), await subject_with_team(stack, nurse)
        await post_with_image(stack, nurse, first, "記録 1")
        await create_post(stack, nurse, first, "記録 2")
        in_period = await create_post(stack, nurse, second, "2020年の記録")
        outside = await create_post(stack, nurse, second, "今の記録")
        await backdate(stack, in_period["id"], "6 years")
        client = stack["timeline"].client

        refused = await client.post(
            "/operator/erasures", json={"subject_id": str(first)}, headers=nurse.headers
        )
        assert_problem(refused, 403, "operator-only")
        assert_problem(
            await client.post("/operator/erasures", json={}, headers=operator.headers),
            422,
            "validation-error",
        )

        erased = await client.post(
            "/operator/erasures", json={"subject_id": str(first)}, headers=operator.headers
        )
        assert erased.json() == {"posts_removed": 2, "objects_removed": 2}
        assert await stored_objects(stack, f"demo/subjects/{first}/") == []
        period = await client.post(
            "/operator/erasures",
            json={"subject_id": str(second), "posted_before": datetime(2024, 1, 1, tzinfo=UTC).isoformat()},
            headers=operator.headers,
        )
        assert period.json()["posts_removed"] == 1
        left = (await client.get(f"/subjects/{second}/posts", headers=nurse.headers)).json()
        assert [p["id"] for p in left["items"]] == [outside["id"]]
        audited = await count(
            stack,
            "SELECT count(*) FROM audit_log WHERE action = 'post.erase' AND actor_id = :a",
            a=str(operator.user_id),
        )
        assert audited == 2


class TestC4Withdrawal:
    async def test_c4_support_stopped_hides_posts_and_files_from_staff(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        post = await post_with_image(stack, nurse, subject_id, "記録")
        withdrawal = ConsentWithdrawnV1(
            subject_id=subject_id,
            consent_id=uuid7(),
            withdrawal_id=uuid7(),
            withdrawn_at=datetime.now(UTC),
            mode="stop",
        )
        await publish(stack, withdrawal, subject_id)
        client = stack["timeline"].client

        async def stopped() -> bool:
            response = await client.get(f"/posts/{post['id']}", headers=nurse.headers)
            return response.status_code == 410

        await eventually(stopped, what="the withdrawal to reach timeline")
        attachment_id = post["attachments"][0]["id"]
        assert_problem(
            await client.get(f"/attachments/{attachment_id}/download", headers=nurse.headers),
            410,
            "support-stopped",
        )
        assert_problem(
            await client.get(f"/subjects/{subject_id}/search", params={"q": "記録"}, headers=nurse.headers),
            410,
            "support-stopped",
        )
        feed = (await client.get("/feed", headers=nurse.headers)).json()
        assert str(subject_id) not in [i["subject_id"] for i in feed["items"]]
        # Read-only history: rows and objects are kept (T5), only no longer shared.
        assert await count(stack, "SELECT count(*) FROM posts WHERE subject_id = :s", s=subject_id) == 1
        assert len(await stored_objects(stack, f"demo/subjects/{subject_id}/")) == 2

    async def test_c4_delete_mode_removes_posts_and_objects_and_a_replay_is_harmless(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        await post_with_image(stack, nurse, subject_id, "記録 1")
        await create_post(stack, nurse, subject_id, "記録 2")
        await upload(stack, nurse, subject_id, png_bytes(), "未添付.png")  # uploaded, never attached
        withdrawal = ConsentWithdrawnV1(
            subject_id=subject_id,
            consent_id=uuid7(),
            withdrawal_id=uuid7(),
            withdrawn_at=datetime.now(UTC),
            mode="delete",
        )
        envelope = await publish(stack, withdrawal, subject_id)

        async def reports() -> int:
            return await count(
                stack,
                "SELECT count(*) FROM outbox WHERE event_type = 'timeline.support-stopped.v1' "
                "AND envelope->>'subject' = :s",
                s=str(subject_id),
            )

        await eventually(reports, what="the deletion report")
        assert await count(stack, "SELECT count(*) FROM posts WHERE subject_id = :s", s=subject_id) == 0
        assert await count(stack, "SELECT count(*) FROM attachments WHERE subject_id = :s", s=subject_id) == 0
        assert await stored_objects(stack, f"demo/subjects/{subject_id}/") == []

        # The broker delivers the same event again: the inbox drops it, nothing is reported twice.
        from yui_common.metrics import CONSUMED

        def duplicates() -> float:
            return CONSUMED.labels("timeline.consent-events", "duplicate")._value.get()  # type: ignore[attr-defined]

        seen = duplicates()
        settings = stack["timeline"].settings
        await publish_direct(settings.amqp_url, envelope, exchange=settings.exchange)
        await eventually(lambda: duplicates() > seen, what="timeline to drop the replay")
        assert await reports() == 1
        # Even past the inbox, running the deletion again is harmless: objects already gone are no error.
        async with stack["timeline"].sessionmaker() as session, session.begin():
            store = stack["timeline"].app.state.object_store
            assert (
                await retention.stop_support(session, tenant="demo", withdrawal=withdrawal, store=store) == 0
            )
            await session.rollback()


class TestC4RefusalComesFirst:
    async def test_c4_the_refusal_commits_alone_and_the_bulk_stop_follows_with_the_report(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        post = await create_post(stack, nurse, subject_id, "記録")
        withdrawal = ConsentWithdrawnV1(
            subject_id=subject_id,
            consent_id=uuid7(),
            withdrawal_id=uuid7(),
            withdrawn_at=datetime.now(UTC),
            mode="stop",
        )
        # The consumer's step alone: the subject is refused, the posts are not touched yet, and the follow-up
        # is staged in the same commit (so it cannot be lost).
        async with stack["timeline"].sessionmaker() as session, session.begin():
            await access.refuse_subject(session, tenant="demo", withdrawal=withdrawal)
            await outbox.stage_pending(session)  # events are written at commit; read them now
            staged = await session.execute(
                text("SELECT event_type FROM outbox WHERE envelope->>'subject' = :s"), {"s": str(subject_id)}
            )
            assert "timeline.support-stop-requested.v1" in staged.scalars().all()
            untouched = await session.execute(
                text("SELECT count(*) FROM posts WHERE subject_id = :s AND support_stopped_at IS NOT NULL"),
                {"s": subject_id},
            )
            assert untouched.scalar_one() == 0
        refused = await stack["timeline"].client.get(f"/posts/{post['id']}", headers=nurse.headers)
        assert refused.status_code == 410

        async def posts_stopped_and_reported() -> bool:
            async with stack["timeline"].sessionmaker() as session:
                stopped = await session.execute(
                    text("SELECT count(*) FROM posts WHERE subject_id = :s AND support_stopped_at IS NULL"),
                    {"s": subject_id},
                )
                reported = await session.execute(
                    text(
                        "SELECT count(*) FROM outbox WHERE envelope->>'subject' = :s "
                        "AND event_type = 'timeline.support-stopped.v1'"
                    ),
                    {"s": str(subject_id)},
                )
                return stopped.scalar_one() == 0 and reported.scalar_one() == 1

        await eventually(posts_stopped_and_reported, what="the bulk stop and its report")
