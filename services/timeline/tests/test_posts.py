"""Posts through the HTTP API: T1 (categories, threads, mentions, feed), T2 support requests, T4 reference
only, T5 integrity (versions, tombstones, signatures, tampering), t8 read marks."""

from __future__ import annotations

from uuid import uuid4

from sqlalchemy import text
from uuid6 import uuid7

from services.timeline.tests.timeline_support import assert_problem, create_post, subject_with_team
from tests.support.stack import Stack


async def outbox_events(stack: Stack, event_type: str, post_id: str) -> list[dict]:
    async with stack["timeline"].sessionmaker() as session:
        rows = await session.execute(
            text("SELECT envelope FROM outbox WHERE event_type = :t AND envelope->'data'->>'post_id' = :p"),
            {"t": event_type, "p": post_id},
        )
        return [row[0] for row in rows]


class TestT1WhatIsShared:
    async def test_t1_a_post_has_a_category_and_a_reply_joins_its_thread(self, stack: Stack) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        client = stack["timeline"].client
        first = await create_post(stack, nurse, subject_id, "服薬確認。残薬あり。", category="medication")
        assert first["category"] == "medication" and first["parent_id"] is None
        bad = await client.post(
            f"/subjects/{subject_id}/posts", json={"category": "gossip", "body": "x"}, headers=nurse.headers
        )
        assert_problem(bad, 422, "validation-error")

        answer = await client.post(
            f"/posts/{first['id']}/replies", json={"body": "処方を調整します"}, headers=doctor.headers
        )
        assert answer.status_code == 201, answer.text
        # A reply to a reply still joins the first post's thread (threads are one level deep).
        again = await client.post(
            f"/posts/{answer.json()['id']}/replies", json={"body": "了解です"}, headers=nurse.headers
        )
        assert again.json()["parent_id"] == first["id"]

        page = (await client.get(f"/subjects/{subject_id}/posts", headers=nurse.headers)).json()
        assert [p["id"] for p in page["items"]] == [first["id"]]
        assert page["items"][0]["reply_count"] == 2
        thread = (await client.get(f"/posts/{first['id']}", headers=nurse.headers)).json()
        assert [r["body"] for r in thread["replies"]] == ["処方を調整します", "了解です"]
        [reply_event] = await outbox_events(stack, "timeline.reply-created.v1", answer.json()["id"])
        assert reply_event["data"]["parent_author_id"] == str(nurse.user_id)

    async def test_t1_mentions_name_team_members_only_and_are_announced(self, stack: Stack) -> None:
        nurse, doctor, outsider = stack.staff(), stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        created = await create_post(stack, nurse, subject_id, "先生ご確認を", mentions=[str(doctor.user_id)])
        assert created["mentioned_user_ids"] == [str(doctor.user_id)]
        [event] = await outbox_events(stack, "timeline.user-mentioned.v1", created["id"])
        assert event["data"]["mentioned_user_ids"] == [str(doctor.user_id)]
        assert event["data"]["subject_id"] == str(subject_id)
        [announced] = await outbox_events(stack, "timeline.post-created.v1", created["id"])
        assert announced["data"]["mentioned_user_ids"] == [str(doctor.user_id)]

        refused = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/posts",
            json={"body": "x", "mentions": [str(outsider.user_id)]},
            headers=nurse.headers,
        )
        assert_problem(refused, 422, "unknown-mention")

    async def test_t1_the_feed_shows_my_subjects_latest_posts_with_unread_counts(self, stack: Stack) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        quiet = await subject_with_team(stack, nurse, doctor)
        busy = await subject_with_team(stack, nurse, doctor)
        await create_post(stack, doctor, quiet, "静かな記録")
        for n in range(3):
            latest = await create_post(stack, doctor, busy, f"記録 {n}")
        await create_post(stack, nurse, busy, "自分の記録")  # my own posts are never unread for me

        feed = (await stack["timeline"].client.get("/feed", headers=nurse.headers)).json()
        by_subject = {item["subject_id"]: item for item in feed["items"]}
        assert by_subject[str(busy)]["unread_count"] == 3
        assert by_subject[str(quiet)]["unread_count"] == 1
        assert feed["items"][0]["subject_id"] == str(busy)  # newest activity first
        assert by_subject[str(busy)]["latest_post"]["body"] == "自分の記録"
        assert feed["total_unread"] == 4

        await stack["timeline"].client.get(f"/posts/{latest['id']}", headers=nurse.headers)
        feed = (await stack["timeline"].client.get("/feed", headers=nurse.headers)).json()
        assert {i["subject_id"]: i["unread_count"] for i in feed["items"]}[str(busy)] == 2

    async def test_t1_unread_posts_are_counted_among_the_newest_hundred_so_the_feed_stays_fast(
        self, stack: Stack
    ) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        first = await create_post(stack, doctor, subject_id, "最初の記録")
        # 104 more, cloned in SQL (setup, not the point): 105 unread in all, more than the window.
        async with stack["timeline"].sessionmaker() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO posts (id, tenant, subject_id, author_id, facility_id, category, body, "
                    "search_text, version, created_at) SELECT gen_random_uuid(), tenant, subject_id, author_id, "
                    "facility_id, category, body || n, search_text, version, created_at + n * interval '1 second' "
                    "FROM posts, generate_series(1, 104) AS n WHERE id = :first"
                ),
                {"first": first["id"]},
            )
        feed = (await stack["timeline"].client.get("/feed", headers=nurse.headers)).json()
        [item] = [i for i in feed["items"] if i["subject_id"] == str(subject_id)]
        assert item["unread_count"] == 100  # "100 or more"


class TestT8ReadMarks:
    async def test_t8_opening_a_post_marks_it_read_and_the_team_sees_who_and_when(self, stack: Stack) -> None:
        author, reader, other = stack.staff(), stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, author, reader, other)
        post = await create_post(stack, author, subject_id, "褥瘡の処置をしました")
        client = stack["timeline"].client

        page = (await client.get(f"/subjects/{subject_id}/posts", headers=reader.headers)).json()
        assert page["items"][0]["read_by_me"] is False and page["items"][0]["read_count"] == 0

        opened = (await client.get(f"/posts/{post['id']}", headers=reader.headers)).json()
        [mark] = opened["read_by"]
        assert mark["user_id"] == str(reader.user_id) and mark["read_at"]
        # Opening again keeps the first reading time.
        await client.get(f"/posts/{post['id']}", headers=reader.headers)
        seen_by_author = (await client.get(f"/posts/{post['id']}/read-marks", headers=author.headers)).json()
        assert seen_by_author == [mark]
        seen_by_team = (await client.get(f"/posts/{post['id']}/read-marks", headers=other.headers)).json()
        assert seen_by_team == [mark]
        # The author opening their own post is not a read mark.
        await client.get(f"/posts/{post['id']}", headers=author.headers)
        page = (await client.get(f"/subjects/{subject_id}/posts", headers=reader.headers)).json()
        assert page["items"][0]["read_by_me"] is True and page["items"][0]["read_count"] == 1

        outsider = stack.staff()
        assert_problem(
            await client.get(f"/posts/{post['id']}/read-marks", headers=outsider.headers), 404, "not-found"
        )


class TestT2SupportRequests:
    async def test_t2_a_request_to_a_user_moves_open_answered_adopted(self, stack: Stack) -> None:
        nurse = stack.staff()
        specialist = stack.staff()  # a dermatologist elsewhere, not on the care team
        subject_id = await subject_with_team(stack, nurse)
        client = stack["timeline"].client
        request = await create_post(
            stack,
            nurse,
            subject_id,
            "皮膚の写真です。ご意見をください。",
            support_request={"addressed_user_id": str(specialist.user_id)},
        )
        assert request["support_request"]["status"] == "open"
        [asked] = await outbox_events(stack, "timeline.support-requested.v1", request["id"])
        assert asked["data"]["addressed_user_id"] == str(specialist.user_id)

        inbox = (await client.get("/support-requests", headers=specialist.headers)).json()
        assert [r["id"] for r in inbox] == [request["id"]]
        # The addressee reaches the request's thread, and nothing else of the subject.
        assert (await client.get(f"/posts/{request['id']}", headers=specialist.headers)).status_code == 200
        assert_problem(
            await client.get(f"/subjects/{subject_id}/posts", headers=specialist.headers), 404, "not-found"
        )
        early = await client.post(
            f"/posts/{request['id']}/support-request/decision",
            json={"decision": "adopted"},
            headers=nurse.headers,
        )
        assert_problem(early, 409, "request-not-answered")

        answer = await client.post(
            f"/posts/{request['id']}/replies",
            json={"body": "接触皮膚炎と思われます"},
            headers=specialist.headers,
        )
        assert answer.status_code == 201, answer.text
        thread = (await client.get(f"/posts/{request['id']}", headers=nurse.headers)).json()
        assert thread["support_request"]["status"] == "answered"
        [answered] = await outbox_events(stack, "timeline.support-request-answered.v1", request["id"])
        assert answered["data"]["requester_id"] == str(nurse.user_id)

        not_mine = await client.post(
            f"/posts/{request['id']}/support-request/decision",
            json={"decision": "adopted"},
            headers=specialist.headers,
        )
        assert_problem(not_mine, 404, "not-found")
        adopted = await client.post(
            f"/posts/{request['id']}/support-request/decision",
            json={"decision": "adopted"},
            headers=nurse.headers,
        )
        assert adopted.json()["support_request"]["status"] == "adopted"
        [decided] = await outbox_events(stack, "timeline.support-request-decided.v1", request["id"])
        assert decided["data"]["decision"] == "adopted"
        sent = (await client.get("/support-requests", params={"box": "sent"}, headers=nurse.headers)).json()
        assert [r["support_request"]["status"] for r in sent] == ["adopted"]

    async def test_t2_a_request_to_a_facility_is_answered_by_its_staff_and_can_be_declined(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        hospital = uuid4()
        colleague_at_hospital = stack.staff(facility_id=hospital)
        subject_id = await subject_with_team(stack, nurse)
        client = stack["timeline"].client
        request = await create_post(
            stack,
            nurse,
            subject_id,
            "遠隔診断をお願いします",
            support_request={"addressed_facility_id": str(hospital)},
        )
        inbox = (await client.get("/support-requests", headers=colleague_at_hospital.headers)).json()
        assert [r["id"] for r in inbox] == [request["id"]]
        answer = await client.post(
            f"/posts/{request['id']}/replies",
            json={"body": "所見です"},
            headers=colleague_at_hospital.headers,
        )
        assert answer.status_code == 201
        declined = await client.post(
            f"/posts/{request['id']}/support-request/decision",
            json={"decision": "declined"},
            headers=nurse.headers,
        )
        assert declined.json()["support_request"]["status"] == "declined"
        both = await client.post(
            f"/subjects/{subject_id}/posts",
            json={
                "body": "x",
                "support_request": {
                    "addressed_user_id": str(uuid4()),
                    "addressed_facility_id": str(hospital),
                },
            },
            headers=nurse.headers,
        )
        assert_problem(both, 422, "validation-error")


class TestT4ReferenceOnly:
    async def test_t4_every_answer_with_shared_information_says_it_is_a_reference_copy(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        post = await create_post(stack, nurse, subject_id, "記録")
        client = stack["timeline"].client
        page = await client.get(f"/subjects/{subject_id}/posts", headers=nurse.headers)
        detail = await client.get(f"/posts/{post['id']}", headers=nurse.headers)
        feed = await client.get("/feed", headers=nurse.headers)
        for response in (page, detail, feed):
            assert response.headers["x-yui-reference-only"] == "true"
            assert "参考" in response.json()["reference_notice"]


class TestT5Integrity:
    async def test_t5_an_edit_is_a_new_signed_version_and_the_old_one_stays_visible(
        self, stack: Stack
    ) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        client = stack["timeline"].client
        post = await create_post(stack, nurse, subject_id, "体温 37.8度")
        edited = await client.post(
            f"/posts/{post['id']}/versions", json={"body": "体温 38.7度（訂正）"}, headers=nurse.headers
        )
        assert edited.status_code == 201, edited.text
        assert edited.json()["version"] == 2 and edited.json()["body"] == "体温 38.7度（訂正）"
        not_author = await client.post(
            f"/posts/{post['id']}/versions", json={"body": "改ざん"}, headers=doctor.headers
        )
        assert_problem(not_author, 403, "not-author")

        versions = (await client.get(f"/posts/{post['id']}/versions", headers=doctor.headers)).json()
        assert [(v["version"], v["body"]) for v in versions] == [
            (1, "体温 37.8度"),
            (2, "体温 38.7度（訂正）"),
        ]
        assert all(len(v["content_sha256"]) == 64 and v["signature"] for v in versions)
        assert versions[0]["content_sha256"] != versions[1]["content_sha256"]

        verified = (await client.get(f"/posts/{post['id']}/verify", headers=doctor.headers)).json()
        assert verified["intact"] is True
        assert [v["signature_valid"] and v["content_sha256_matches"] for v in verified["versions"]] == [
            True,
            True,
        ]
        assert "BEGIN PUBLIC KEY" in verified["public_key_pem"]
        key = await client.get("/signing-key", headers=doctor.headers)
        assert key.text == verified["public_key_pem"]

    async def test_t5_a_row_changed_behind_yuis_back_is_detected(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        client = stack["timeline"].client
        first = await create_post(stack, nurse, subject_id, "インスリン 8単位")
        second = await create_post(stack, nurse, subject_id, "インスリン 4単位")
        async with stack["timeline"].sessionmaker() as session, session.begin():
            # Someone with database access rewrites the current text, and the stored history of another post
            # (dropping the trigger that stops Yui itself from updating versions).
            await session.execute(
                text("UPDATE posts SET body = 'インスリン 80単位' WHERE id = :p"), {"p": first["id"]}
            )
            await session.execute(text("ALTER TABLE post_versions DISABLE TRIGGER post_versions_no_update"))
            await session.execute(
                text("UPDATE post_versions SET body = 'インスリン 40単位' WHERE post_id = :p"),
                {"p": second["id"]},
            )
            await session.execute(text("ALTER TABLE post_versions ENABLE TRIGGER post_versions_no_update"))

        first_check = (await client.get(f"/posts/{first['id']}/verify", headers=nurse.headers)).json()
        assert first_check["intact"] is False and first_check["current_row_matches_latest_version"] is False
        second_check = (await client.get(f"/posts/{second['id']}/verify", headers=nurse.headers)).json()
        assert second_check["intact"] is False
        assert second_check["versions"][0]["content_sha256_matches"] is False

        async with stack["timeline"].sessionmaker() as session, session.begin():
            # A forger who also recomputes the hash still cannot produce the service's signature.
            await session.execute(text("ALTER TABLE post_versions DISABLE TRIGGER post_versions_no_update"))
            await session.execute(
                text("UPDATE post_versions SET content_sha256 = repeat('0', 64) WHERE post_id = :p"),
                {"p": second["id"]},
            )
            await session.execute(text("ALTER TABLE post_versions ENABLE TRIGGER post_versions_no_update"))
        forged = (await client.get(f"/posts/{second['id']}/verify", headers=nurse.headers)).json()
        assert forged["versions"][0]["signature_valid"] is False

    async def test_t5_versions_cannot_be_updated_even_by_the_service(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        post = await create_post(stack, nurse, subject_id, "記録")
        async with stack["timeline"].sessionmaker() as session:
            try:
                await session.execute(
                    text("UPDATE post_versions SET body = 'x' WHERE post_id = :p"), {"p": post["id"]}
                )
            except Exception as exc:
                assert "append-only" in str(exc)
            else:
                raise AssertionError("post_versions accepted an UPDATE")

    async def test_t5_deletion_by_author_or_operator_leaves_a_tombstone_and_an_audit_entry(
        self, stack: Stack
    ) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        operator = stack.staff(roles=("operator",))
        subject_id = await subject_with_team(stack, nurse, doctor)
        client = stack["timeline"].client
        mine = await create_post(stack, nurse, subject_id, "誤った利用者への記録")
        other = await create_post(stack, doctor, subject_id, "不適切な記録")

        assert_problem(await client.delete(f"/posts/{other['id']}", headers=nurse.headers), 403, "not-author")
        deleted = await client.delete(f"/posts/{mine['id']}", headers=nurse.headers)
        assert deleted.status_code == 200 and deleted.json()["body"] is None
        by_operator = await client.delete(f"/posts/{other['id']}", headers=operator.headers)
        assert by_operator.json()["deleted_by"] == str(operator.user_id)

        page = (await client.get(f"/subjects/{subject_id}/posts", headers=doctor.headers)).json()
        tombstones = {p["id"]: p for p in page["items"]}
        assert tombstones[mine["id"]]["body"] is None and tombstones[mine["id"]]["deleted_at"]
        assert tombstones[other["id"]]["deleted_by"] == str(operator.user_id)
        assert_problem(
            await client.get(f"/posts/{mine['id']}/versions", headers=doctor.headers), 410, "post-deleted"
        )
        async with stack["timeline"].sessionmaker() as session:
            actions = (
                await session.execute(
                    text(
                        "SELECT actor_id, detail->>'post' FROM audit_log WHERE action = 'post.delete' "
                        "AND subject_id = :s ORDER BY seq"
                    ),
                    {"s": str(subject_id)},
                )
            ).all()
            kept = (
                await session.execute(
                    text("SELECT count(*) FROM post_versions WHERE post_id = :p"), {"p": mine["id"]}
                )
            ).scalar()
        assert actions == [(str(nurse.user_id), mine["id"]), (str(operator.user_id), other["id"])]
        assert kept == 1  # the history stays; only the tombstone is shown


class TestAccessMatrixPosts:
    async def test_outsiders_get_404_for_every_post_route(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        post = await create_post(stack, nurse, subject_id, "記録")
        client = stack["timeline"].client
        for outsider in (
            stack.staff(),
            stack.staff(facility_id=nurse.facility_id),
            stack.staff(tenant="other-network", user_id=nurse.user_id, facility_id=nurse.facility_id),
        ):
            h = outsider.headers
            for response in (
                await client.get(f"/posts/{post['id']}", headers=h),
                await client.get(f"/posts/{post['id']}/versions", headers=h),
                await client.get(f"/posts/{post['id']}/verify", headers=h),
                await client.post(f"/posts/{post['id']}/replies", json={"body": "x"}, headers=h),
                await client.post(f"/posts/{post['id']}/versions", json={"body": "x"}, headers=h),
                await client.delete(f"/posts/{post['id']}", headers=h),
                await client.get(f"/subjects/{subject_id}/search", params={"q": "記録"}, headers=h),
                await client.get(f"/subjects/{subject_id}/fhir", headers=h),
                await client.get(f"/posts/{uuid7()}", headers=h),
            ):
                assert_problem(response, 404, "not-found")
        feed = (await client.get("/feed", headers=stack.staff().headers)).json()
        assert feed["items"] == []
