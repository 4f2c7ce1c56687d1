"""T6 groups (members by invitation, the same posting features), t9 Japanese search, t10 FHIR R4 export, and
the access-control matrix over groups."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.documentreference import DocumentReference

from services.timeline.tests.test_attachments import upload
from services.timeline.tests.timeline_support import (
    assert_problem,
    create_post,
    group_with_members,
    png_bytes,
    subject_with_team,
)
from tests.support.stack import Stack


class TestT6Groups:
    async def test_t6_members_join_by_invitation_and_post_reply_mention_and_read(self, stack: Stack) -> None:
        owner, invitee, stranger = stack.staff(), stack.staff(), stack.staff()
        client = stack["timeline"].client
        created = await client.post(
            "/groups", json={"name": "多職種研修", "purpose": "training"}, headers=owner.headers
        )
        group_id = created.json()["id"]
        await client.post(
            f"/groups/{group_id}/invitations", json={"user_id": str(invitee.user_id)}, headers=owner.headers
        )
        listed = (await client.get("/groups", headers=invitee.headers)).json()
        assert [(g["id"], g["my_status"]) for g in listed] == [(group_id, "invited")]
        # Invited is not yet a member: the board stays closed until the invitation is accepted.
        assert_problem(
            await client.get(f"/groups/{group_id}/posts", headers=invitee.headers), 404, "not-found"
        )
        assert (
            await client.post(f"/groups/{group_id}/invitations/accept", headers=invitee.headers)
        ).status_code == 204

        attachment = (
            await client.post(
                f"/groups/{group_id}/attachments",
                params={"filename": "資料.png"},
                content=png_bytes(),
                headers=owner.headers,
            )
        ).json()
        post = await client.post(
            f"/groups/{group_id}/posts",
            json={
                "category": "other",
                "body": "来週の研修資料です",
                "mentions": [str(invitee.user_id)],
                "attachment_ids": [attachment["id"]],
            },
            headers=owner.headers,
        )
        assert post.status_code == 201, post.text
        post_id = post.json()["id"]
        reply = await client.post(
            f"/posts/{post_id}/replies", json={"body": "参加します"}, headers=invitee.headers
        )
        assert reply.status_code == 201
        opened = (await client.get(f"/posts/{post_id}", headers=invitee.headers)).json()
        assert opened["read_by"][0]["user_id"] == str(invitee.user_id)
        assert [r["body"] for r in opened["replies"]] == ["参加します"]
        feed = (await client.get("/feed", headers=owner.headers)).json()
        assert [(i["group_id"], i["unread_count"]) for i in feed["items"]] == [(group_id, 1)]
        edited = await client.post(
            f"/posts/{post_id}/versions", json={"body": "資料（改訂）"}, headers=owner.headers
        )
        assert edited.json()["version"] == 2
        assert (await client.get(f"/posts/{post_id}/verify", headers=invitee.headers)).json()[
            "intact"
        ] is True

        members = (await client.get(f"/groups/{group_id}/members", headers=invitee.headers)).json()
        assert {m["user_id"]: m["status"] for m in members} == {
            str(owner.user_id): "member",
            str(invitee.user_id): "member",
        }
        mention_outsider = await client.post(
            f"/groups/{group_id}/posts",
            json={"body": "x", "mentions": [str(stranger.user_id)]},
            headers=owner.headers,
        )
        assert_problem(mention_outsider, 422, "unknown-mention")

        left = await client.delete(f"/groups/{group_id}/members/{invitee.user_id}", headers=invitee.headers)
        assert left.status_code == 204
        assert_problem(await client.get(f"/posts/{post_id}", headers=invitee.headers), 404, "not-found")

    async def test_t6_only_the_creator_removes_others(self, stack: Stack) -> None:
        owner, member, other = stack.staff(), stack.staff(), stack.staff()
        group_id = await group_with_members(stack, owner, member, other)
        client = stack["timeline"].client
        refused = await client.delete(f"/groups/{group_id}/members/{other.user_id}", headers=member.headers)
        assert_problem(refused, 403, "not-group-owner")
        removed = await client.delete(f"/groups/{group_id}/members/{other.user_id}", headers=owner.headers)
        assert removed.status_code == 204
        assert_problem(await client.get(f"/groups/{group_id}/posts", headers=other.headers), 404, "not-found")


class TestAccessMatrixGroups:
    async def test_non_members_get_404_for_every_group_route(self, stack: Stack) -> None:
        owner = stack.staff()
        group_id = await group_with_members(stack, owner)
        post = (
            await stack["timeline"].client.post(
                f"/groups/{group_id}/posts", json={"body": "連絡事項"}, headers=owner.headers
            )
        ).json()
        client = stack["timeline"].client
        for outsider in (stack.staff(), stack.staff(tenant="other-network", user_id=owner.user_id)):
            h = outsider.headers
            for response in (
                await client.get(f"/groups/{group_id}", headers=h),
                await client.get(f"/groups/{group_id}/posts", headers=h),
                await client.get(f"/groups/{group_id}/members", headers=h),
                await client.post(f"/groups/{group_id}/posts", json={"body": "x"}, headers=h),
                await client.post(
                    f"/groups/{group_id}/invitations", json={"user_id": str(outsider.user_id)}, headers=h
                ),
                await client.post(f"/groups/{group_id}/invitations/accept", headers=h),
                await client.get(f"/groups/{group_id}/search", params={"q": "連絡"}, headers=h),
                await client.get(f"/posts/{post['id']}", headers=h),
                await client.post(f"/posts/{post['id']}/replies", json={"body": "x"}, headers=h),
                await client.post(
                    f"/groups/{group_id}/attachments",
                    params={"filename": "a.png"},
                    content=png_bytes(),
                    headers=h,
                ),
            ):
                assert_problem(response, 404, "not-found")
            assert (await client.get("/search/groups", params={"q": "連絡"}, headers=h)).json() == []


class TestT9Search:
    async def test_t9_japanese_text_is_found_across_widths_kana_and_short_words(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        other_subject = await subject_with_team(stack, nurse)
        fever = await create_post(stack, nurse, subject_id, "夜間に発熱３８．５度。カロナール内服。")
        meal = await create_post(stack, nurse, subject_id, "昼食は全量摂取。ＡＤＬ変化なし。")
        await create_post(stack, nurse, other_subject, "発熱なし")  # another subject's post is never found
        client = stack["timeline"].client

        async def found(q: str) -> list[str]:
            response = await client.get(
                f"/subjects/{subject_id}/search", params={"q": q}, headers=nurse.headers
            )
            assert response.status_code == 200, response.text
            return [p["id"] for p in response.json()]

        assert await found("発熱") == [fever["id"]]  # two characters: below a trigram, still found
        assert await found("38.5") == [fever["id"]]  # half width finds full width (NFKC)
        assert await found("かろなーる") == [fever["id"]]  # hiragana finds katakana
        assert await found("adl") == [meal["id"]]  # case and width folded
        assert await found("全量摂取") == [meal["id"]]
        assert await found("100%") == []  # LIKE wildcards are literal
        assert await found("嘔吐") == []
        assert_problem(
            await client.get(f"/subjects/{subject_id}/search", params={"q": "　"}, headers=nurse.headers),
            422,
            "empty-query",
        )

    async def test_t9_search_covers_my_groups_only(self, stack: Stack) -> None:
        me, other = stack.staff(), stack.staff()
        mine = await group_with_members(stack, me, name="感染対策")
        theirs = await group_with_members(stack, other, name="別の会")
        client = stack["timeline"].client
        hit = (
            await client.post(
                f"/groups/{mine}/posts", json={"body": "インフルエンザ対策の資料"}, headers=me.headers
            )
        ).json()
        await client.post(
            f"/groups/{theirs}/posts", json={"body": "インフルエンザの連絡"}, headers=other.headers
        )
        found = (
            await client.get("/search/groups", params={"q": "インフルエンザ"}, headers=me.headers)
        ).json()
        assert [p["id"] for p in found] == [hit["id"]]
        in_group = (
            await client.get(f"/groups/{mine}/search", params={"q": "資料"}, headers=me.headers)
        ).json()
        assert [p["id"] for p in in_group] == [hit["id"]]

    async def test_t4_group_search_answers_say_they_are_reference_copies(self, stack: Stack) -> None:
        me = stack.staff()
        group_id = await group_with_members(stack, me, name="退院調整")
        client = stack["timeline"].client
        await client.post(
            f"/groups/{group_id}/posts", json={"body": "退院前カンファレンス"}, headers=me.headers
        )
        in_group = await client.get(f"/groups/{group_id}/search", params={"q": "退院"}, headers=me.headers)
        in_my_groups = await client.get("/search/groups", params={"q": "退院"}, headers=me.headers)
        for response in (in_group, in_my_groups):
            assert response.status_code == 200, response.text
            assert response.headers["x-yui-reference-only"] == "true"
            assert [p["body"] for p in response.json()] == ["退院前カンファレンス"]


class TestT10FhirExport:
    async def test_t10_posts_export_as_communication_and_attachments_as_document_reference(
        self, stack: Stack
    ) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        client = stack["timeline"].client
        attachment = (await upload(stack, nurse, subject_id, png_bytes(), "創部.png")).json()
        post = await create_post(stack, nurse, subject_id, "創部の写真", attachment_ids=[attachment["id"]])
        reply = (
            await client.post(
                f"/posts/{post['id']}/replies", json={"body": "確認しました"}, headers=doctor.headers
            )
        ).json()
        removed = await create_post(stack, nurse, subject_id, "削除する記録")
        await client.delete(f"/posts/{removed['id']}", headers=nurse.headers)

        exported = await client.get(f"/subjects/{subject_id}/fhir", headers=doctor.headers)
        assert exported.status_code == 200 and exported.headers["content-type"].startswith(
            "application/fhir+json"
        )
        bundle = Bundle.model_validate(exported.json())
        assert bundle.type == "collection"
        resources = {entry.resource.id: entry.resource for entry in bundle.entry}
        assert set(resources) == {post["id"], reply["id"], attachment["id"]}  # the tombstone is not exported
        communication = Communication.model_validate(resources[post["id"]].model_dump())
        assert communication.payload[0].contentString == "創部の写真"
        assert communication.subject.reference == f"Patient/{subject_id}"
        answer = Communication.model_validate(resources[reply["id"]].model_dump())
        assert answer.inResponseTo[0].reference == f"Communication/{post['id']}"
        document = DocumentReference.model_validate(resources[attachment["id"]].model_dump())
        assert document.content[0].attachment.contentType == "image/png"
        assert document.content[0].attachment.title == "創部.png"
        assert document.identifier[0].value == attachment["content_sha256"]
