"""People and reading on the timeline (issue 10): every answer names its people (name, profession, facility)
from identity's events, a batch of posts seen on screen is marked read, a page shows who read each post, the
latest replies under it and the first unread, and the events that become notifications carry an excerpt."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select, text
from timeline.access import service as access
from timeline.consumers.identity import subscription
from timeline.models import Person, Post
from timeline.posts import service
from timeline.posts.responses import post_read
from timeline.posts.schemas import PostPage
from yui_common.auth import Principal
from yui_common.events import envelope_for
from yui_common.events.identity import PersonChangedV1
from yui_common.people import apply_person_changed

from services.timeline.tests.timeline_support import (
    assert_problem,
    create_post,
    png_bytes,
    subject_with_team,
)
from tests.support.bus import publish_direct
from tests.support.stack import Stack, Staff, eventually

NURSE_FACILITY = "結訪問看護ステーション"
CLINIC = "みなと在宅クリニック"


def person_event(
    staff: Staff, name: str, *, profession: str, facility: str, version: int = 1
) -> PersonChangedV1:
    return PersonChangedV1(
        user_id=staff.user_id,
        name=name,
        name_kana=None,
        profession=profession,
        facility_id=staff.facility_id,
        facility_name=facility,
        status="active",
        version=version,
    )


async def known_as(stack: Stack, staff: Staff, name: str, *, profession: str, facility: str) -> None:
    """What identity's person-changed event would have told timeline, committed directly."""
    async with stack["timeline"].sessionmaker() as session, session.begin():
        await apply_person_changed(
            session, Person, staff.tenant, person_event(staff, name, profession=profession, facility=facility)
        )


async def team_with_names(stack: Stack) -> tuple[Staff, Staff, Staff, UUID]:
    nurse, doctor, pharmacist = stack.staff(), stack.staff(), stack.staff()
    await known_as(stack, nurse, "山田 花子", profession="visiting_nurse", facility=NURSE_FACILITY)
    await known_as(stack, doctor, "佐藤 一郎", profession="doctor", facility=CLINIC)
    await known_as(stack, pharmacist, "鈴木 薫", profession="pharmacist", facility="さくら薬局")
    subject_id = await subject_with_team(stack, nurse, doctor, pharmacist)
    return nurse, doctor, pharmacist, subject_id


async def page(stack: Stack, staff: Staff, subject_id: UUID, **params: Any) -> dict[str, Any]:
    response = await stack["timeline"].client.get(
        f"/subjects/{subject_id}/posts", params=params, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def mark_seen(stack: Stack, staff: Staff, subject_id: UUID, *post_ids: str) -> Any:
    return await stack["timeline"].client.post(
        f"/subjects/{subject_id}/read-marks", json={"post_ids": list(post_ids)}, headers=staff.headers
    )


async def reply(stack: Stack, staff: Staff, post_id: str, body: str) -> dict[str, Any]:
    response = await stack["timeline"].client.post(
        f"/posts/{post_id}/replies", json={"body": body}, headers=staff.headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def audit_count(stack: Stack, action: str, actor: UUID) -> int:
    async with stack["timeline"].sessionmaker() as session:
        return int(
            (
                await session.execute(
                    text("SELECT count(*) FROM audit_log WHERE action = :a AND actor_id = :u"),
                    {"a": action, "u": str(actor)},
                )
            ).scalar_one()
        )


async def outbox_data(stack: Stack, event_type: str, post_id: str) -> dict[str, Any]:
    async with stack["timeline"].sessionmaker() as session:
        rows = await session.execute(
            text("SELECT envelope FROM outbox WHERE event_type = :t AND envelope->'data'->>'post_id' = :p"),
            {"t": event_type, "p": post_id},
        )
        [envelope] = [row[0] for row in rows]
        return envelope["data"]  # type: ignore[no-any-return]


class TestPeopleProjection:
    def test_the_identity_queue_hears_person_changes(self) -> None:
        assert "identity.person-changed.v1" in subscription.routing_keys

    async def test_a_person_changed_event_names_the_author_and_an_older_version_never_overwrites(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        post = await create_post(stack, nurse, subject_id, "訪問しました")
        assert post["author"]["name"] == "（不明な利用者）" and post["author"]["status"] == "unknown"

        settings = stack["timeline"].settings
        renamed = person_event(
            nurse, "山田 花子", profession="visiting_nurse", facility=NURSE_FACILITY, version=2
        )
        await publish_direct(
            settings.amqp_url, envelope_for(renamed, tenant="demo"), exchange=settings.exchange
        )

        async def author_name() -> str | None:
            item = (await page(stack, nurse, subject_id))["items"][0]
            return item["author"]["name"] if item["author"]["status"] == "active" else None

        assert await eventually(author_name, what="the person event") == "山田 花子"
        stale = person_event(nurse, "旧姓 花子", profession="nurse", facility="旧施設", version=1)
        async with stack["timeline"].sessionmaker() as session, session.begin():
            await apply_person_changed(session, Person, "demo", stale)
        author = (await page(stack, nurse, subject_id))["items"][0]["author"]
        assert author == {
            "id": str(nurse.user_id),
            "name": "山田 花子",
            "name_kana": None,
            "profession": "visiting_nurse",
            "facility_id": str(nurse.facility_id),
            "facility_name": NURSE_FACILITY,
            "status": "active",
        }


class TestPeopleInAnswers:
    async def test_posts_replies_mentions_versions_and_readers_carry_person_refs(self, stack: Stack) -> None:
        nurse, doctor, _, subject_id = await team_with_names(stack)
        client = stack["timeline"].client
        post = await create_post(stack, nurse, subject_id, "先生ご確認を", mentions=[str(doctor.user_id)])
        assert post["author"]["name"] == "山田 花子" and post["author"]["facility_name"] == NURSE_FACILITY
        assert [m["name"] for m in post["mentioned"]] == ["佐藤 一郎"]
        answer = await reply(stack, doctor, post["id"], "確認しました")
        assert answer["author"]["profession"] == "doctor"

        thread = (await client.get(f"/posts/{post['id']}", headers=doctor.headers)).json()
        assert thread["replies"][0]["author"]["name"] == "佐藤 一郎"
        marks = (await client.get(f"/posts/{post['id']}/read-marks", headers=nurse.headers)).json()
        assert [(m["user_id"], m["reader"]["name"]) for m in marks] == [(str(doctor.user_id), "佐藤 一郎")]
        edited = await client.post(
            f"/posts/{post['id']}/versions", json={"body": "先生ご確認をお願いします"}, headers=nurse.headers
        )
        assert edited.status_code == 201, edited.text
        versions = (await client.get(f"/posts/{post['id']}/versions", headers=nurse.headers)).json()
        assert [v["author"]["name"] for v in versions] == ["山田 花子", "山田 花子"]

    async def test_a_support_request_names_its_requester_and_addressee(self, stack: Stack) -> None:
        nurse, doctor, _, subject_id = await team_with_names(stack)
        asked = await create_post(
            stack,
            nurse,
            subject_id,
            "往診をお願いできますか",
            support_request={"addressed_user_id": str(doctor.user_id)},
        )
        assert asked["support_request"]["addressee"]["name"] == "佐藤 一郎"
        received = (await stack["timeline"].client.get("/support-requests", headers=doctor.headers)).json()
        mine = next(r for r in received if r["id"] == asked["id"])
        assert (
            mine["author"]["name"] == "山田 花子"
            and mine["support_request"]["addressee"]["name"] == "佐藤 一郎"
        )
        to_facility = await create_post(
            stack,
            nurse,
            subject_id,
            "クリニックへ相談",
            support_request={"addressed_facility_id": str(doctor.facility_id)},
        )
        assert to_facility["support_request"]["addressed_facility_name"] == CLINIC

    async def test_mention_candidates_are_the_care_team_by_name_without_me(self, stack: Stack) -> None:
        nurse, _, _, subject_id = await team_with_names(stack)
        never_signed_in = stack.staff()  # known to timeline only through identity's event
        await known_as(
            stack, never_signed_in, "高橋 進", profession="care_manager", facility="居宅介護支援ひだまり"
        )
        async with stack["timeline"].sessionmaker() as session, session.begin():
            await access.care_team_member_added(
                session, tenant="demo", subject_id=subject_id, user_id=never_signed_in.user_id
            )
        client = stack["timeline"].client
        answer = await client.get(f"/subjects/{subject_id}/mention-candidates", headers=nurse.headers)
        assert answer.status_code == 200, answer.text
        names = {p["name"]: p for p in answer.json()["items"]}
        assert set(names) == {"佐藤 一郎", "鈴木 薫", "高橋 進"}
        assert names["高橋 進"]["profession"] == "care_manager"
        assert names["高橋 進"]["facility_name"] == "居宅介護支援ひだまり"
        outsider = stack.staff()
        refused = await client.get(f"/subjects/{subject_id}/mention-candidates", headers=outsider.headers)
        assert_problem(refused, 404, "not-found")


class TestReadingOnTheTimeline:
    async def test_a_batch_of_seen_posts_is_marked_read_once_and_audited_as_one_entry(
        self, stack: Stack
    ) -> None:
        nurse, doctor, _, subject_id = await team_with_names(stack)
        first = await create_post(stack, nurse, subject_id, "一つ目")
        second = await create_post(stack, nurse, subject_id, "二つ目")
        own = await create_post(stack, doctor, subject_id, "医師の投稿")
        answer = await reply(stack, nurse, own["id"], "看護師の返信")
        elsewhere = await create_post(stack, nurse, await subject_with_team(stack, nurse, doctor), "別の患者")

        seen = await mark_seen(
            stack, doctor, subject_id, first["id"], second["id"], own["id"], answer["id"], elsewhere["id"]
        )
        assert seen.status_code == 200, seen.text
        # the doctor's own post and the other subject's post are passed over
        assert seen.json() == {"marked": 3}
        again = await mark_seen(stack, doctor, subject_id, first["id"], second["id"], answer["id"])
        assert again.json() == {"marked": 0}
        assert await audit_count(stack, "post.mark_read", doctor.user_id) == 2

        items = {item["id"]: item for item in (await page(stack, doctor, subject_id))["items"]}
        assert items[first["id"]]["read_by_me"] and not items[first["id"]]["unread"]
        assert not items[own["id"]]["unread"]  # one's own post is never unread
        assert items[own["id"]]["recent_replies"][0]["read_by_me"]

    async def test_read_marks_are_refused_to_outsiders_and_bounded(self, stack: Stack) -> None:
        nurse, _, _, subject_id = await team_with_names(stack)
        post = await create_post(stack, nurse, subject_id, "観察記録")
        outsider = stack.staff()
        assert_problem(await mark_seen(stack, outsider, subject_id, post["id"]), 404, "not-found")
        too_many = [str(uuid4()) for _ in range(101)]
        assert_problem(await mark_seen(stack, nurse, subject_id, *too_many), 422, "validation-error")
        assert_problem(await mark_seen(stack, nurse, subject_id), 422, "validation-error")
        async with stack["timeline"].sessionmaker() as session:
            marks = (
                await session.execute(
                    text("SELECT count(*) FROM read_marks WHERE post_id = :p"), {"p": post["id"]}
                )
            ).scalar_one()
        assert marks == 0

    async def test_the_author_sees_who_read_each_post_on_the_page_without_opening_it(
        self, stack: Stack
    ) -> None:
        nurse, doctor, pharmacist, subject_id = await team_with_names(stack)
        post = await create_post(stack, nurse, subject_id, "血圧 140/90")
        await mark_seen(stack, doctor, subject_id, post["id"])
        await mark_seen(stack, pharmacist, subject_id, post["id"])
        [item] = (await page(stack, nurse, subject_id))["items"]
        assert item["read_count"] == 2
        assert [r["reader"]["name"] for r in item["read_by"]] == ["佐藤 一郎", "鈴木 薫"]
        assert item["read_by"][0]["reader"]["facility_name"] == CLINIC

    async def test_the_page_shows_the_latest_replies_and_the_first_unread(self, stack: Stack) -> None:
        nurse, doctor, _, subject_id = await team_with_names(stack)
        older = await create_post(stack, nurse, subject_id, "古い投稿")
        middle = await create_post(stack, nurse, subject_id, "中の投稿")
        newest = await create_post(stack, nurse, subject_id, "新しい投稿")
        for n in range(1, 6):
            await reply(stack, doctor if n % 2 else nurse, middle["id"], f"返信{n}")

        read_page = await page(stack, doctor, subject_id)
        assert read_page["first_unread_post_id"] == older["id"]
        items = {item["id"]: item for item in read_page["items"]}
        thread = items[middle["id"]]
        assert thread["reply_count"] == 5
        assert [r["body"] for r in thread["recent_replies"]] == ["返信3", "返信4", "返信5"]
        assert [r["author"]["name"] for r in thread["recent_replies"]] == [
            "佐藤 一郎",
            "山田 花子",
            "佐藤 一郎",
        ]
        assert [r["unread"] for r in thread["recent_replies"]] == [False, True, False]

        await mark_seen(stack, doctor, subject_id, older["id"])
        assert (await page(stack, doctor, subject_id))["first_unread_post_id"] == middle["id"]
        await mark_seen(stack, doctor, subject_id, middle["id"])
        # the post is read, but a reply shown under it is not: still the place to jump to
        assert (await page(stack, doctor, subject_id))["first_unread_post_id"] == middle["id"]
        replies = [r["id"] for r in thread["recent_replies"]]
        await mark_seen(stack, doctor, subject_id, *replies, newest["id"])
        assert (await page(stack, doctor, subject_id))["first_unread_post_id"] is None
        # the author's own page has nothing unread
        assert (await page(stack, nurse, subject_id, limit=1))["first_unread_post_id"] is None


class TestLeanPageMatchesTheViews:
    async def test_the_lean_page_answers_what_the_post_views_answer_with_people_replies_and_readers(
        self, stack: Stack
    ) -> None:
        """The page statement (timeline.posts.pages) and the ORM views (views_of + post_read, which every
        other answer uses) name the same people in the same order, byte for byte."""
        nurse, doctor, pharmacist, subject_id = await team_with_names(stack)
        client = stack["timeline"].client
        photo = await client.post(
            f"/subjects/{subject_id}/attachments",
            params={"filename": "wound.png"},
            content=png_bytes(),
            headers={**pharmacist.headers, "Content-Type": "application/octet-stream"},
        )
        assert photo.status_code == 201, photo.text
        stranger = stack.staff()  # on the team, never heard of by timeline's people projection
        async with stack["timeline"].sessionmaker() as session, session.begin():
            await access.care_team_member_added(
                session, tenant="demo", subject_id=subject_id, user_id=stranger.user_id
            )
        asked = await create_post(
            stack,
            nurse,
            subject_id,
            "往診の相談",
            mentions=[str(doctor.user_id), str(stranger.user_id)],
            support_request={"addressed_facility_id": str(doctor.facility_id)},
        )
        plain = await create_post(stack, stranger, subject_id, "記録")
        for n in range(4):
            await reply(stack, [doctor, pharmacist, nurse, stranger][n], asked["id"], f"返信{n}")
        response = await client.post(
            f"/posts/{asked['id']}/replies",
            json={"body": "写真です", "attachment_ids": [photo.json()["id"]]},
            headers=pharmacist.headers,
        )
        assert response.status_code == 201, response.text
        await mark_seen(stack, doctor, subject_id, asked["id"], plain["id"])
        await mark_seen(stack, stranger, subject_id, asked["id"])
        await mark_seen(stack, pharmacist, subject_id, asked["id"])
        deleted = await create_post(stack, nurse, subject_id, "取り消す投稿")
        await client.delete(f"/posts/{deleted['id']}", headers=nurse.headers)

        for reader in (nurse, doctor):
            lean = (await client.get(f"/subjects/{subject_id}/posts", headers=reader.headers)).content
            principal = Principal(user_id=reader.user_id, tenant="demo", facility_id=reader.facility_id)
            async with stack["timeline"].sessionmaker() as session:
                posts = (
                    (
                        await session.execute(
                            select(Post)
                            .where(Post.subject_id == subject_id, Post.parent_id.is_(None))
                            .order_by(Post.created_at.desc(), Post.id.desc())
                        )
                    )
                    .scalars()
                    .all()
                )
                views = await service.views_of(session, principal, posts)
            orm = PostPage(items=[post_read(v) for v in views]).model_dump_json().encode()
            assert lean == orm
        assert b"wound.png" in lean and "（不明な利用者）".encode() in lean


class TestExcerpts:
    @pytest.mark.parametrize("length", [10, 200])
    async def test_events_that_become_notifications_carry_the_bodys_first_characters(
        self, stack: Stack, length: int
    ) -> None:
        nurse, doctor, _, subject_id = await team_with_names(stack)
        body = "本日\n  訪問。\t" + "あ" * length
        expected = " ".join(body.split())[:80]
        post = await create_post(
            stack,
            nurse,
            subject_id,
            body,
            mentions=[str(doctor.user_id)],
            support_request={"addressed_user_id": str(doctor.user_id)},
        )
        assert (await outbox_data(stack, "timeline.post-created.v1", post["id"]))["excerpt"] == expected
        assert (await outbox_data(stack, "timeline.user-mentioned.v1", post["id"]))["excerpt"] == expected
        assert (await outbox_data(stack, "timeline.support-requested.v1", post["id"]))["excerpt"] == expected
        answer = await reply(stack, doctor, post["id"], body)
        assert (await outbox_data(stack, "timeline.reply-created.v1", answer["id"]))["excerpt"] == expected
        assert len(expected) <= 80 and "\n" not in expected

    async def test_a_mention_in_a_reply_names_its_thread_and_answers_and_decisions_carry_excerpts(
        self, stack: Stack
    ) -> None:
        nurse, doctor, _, subject_id = await team_with_names(stack)
        request = await create_post(
            stack,
            nurse,
            subject_id,
            "褥瘡の処置について\nご意見をください。",
            support_request={"addressed_user_id": str(doctor.user_id)},
        )
        response = await stack["timeline"].client.post(
            f"/posts/{request['id']}/replies",
            json={"body": "洗浄後に\n軟膏を塗布してください。", "mentions": [str(nurse.user_id)]},
            headers=doctor.headers,
        )
        assert response.status_code == 201, response.text
        answer = response.json()
        mentioned = await outbox_data(stack, "timeline.user-mentioned.v1", answer["id"])
        assert mentioned["parent_id"] == request["id"]
        top_level = await create_post(stack, nurse, subject_id, "了解", mentions=[str(doctor.user_id)])
        assert (await outbox_data(stack, "timeline.user-mentioned.v1", top_level["id"]))["parent_id"] is None

        answered = await outbox_data(stack, "timeline.support-request-answered.v1", request["id"])
        assert answered["excerpt"] == "洗浄後に 軟膏を塗布してください。"
        decided = await stack["timeline"].client.post(
            f"/posts/{request['id']}/support-request/decision",
            json={"decision": "adopted"},
            headers=nurse.headers,
        )
        assert decided.status_code == 200, decided.text
        decision = await outbox_data(stack, "timeline.support-request-decided.v1", request["id"])
        assert decision["excerpt"] == "褥瘡の処置について ご意見をください。"
