"""Timeline across services: consent's events open a subject's timeline to its team (posts, files, feed), and
a withdrawal closes posts and attachments alike and is reported back to consent (C2, C4, C6, T1, t7)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from services.timeline.tests.timeline_support import PDF, assert_problem
from tests.support.stack import Stack, Staff, eventually


async def registered_subject(stack: Stack, author: Staff) -> UUID:
    consent = stack["consent"].client
    created = await consent.post(
        "/subjects",
        json={"name": "結 花子", "name_kana": "ユイ ハナコ", "municipality_code": "232360"},
        headers=author.headers,
    )
    assert created.status_code == 201, created.text
    subject_id = UUID(created.json()["id"])
    given = await consent.post(
        f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=author.headers
    )
    assert given.status_code == 201, given.text
    return subject_id


class TestTimelineAcrossServices:
    async def test_c4_consent_opens_the_timeline_and_a_withdrawal_closes_posts_and_files(
        self, stack: Stack
    ) -> None:
        doctor = stack.staff()
        subject_id = await registered_subject(stack, doctor)
        timeline = stack["timeline"].client

        async def uploaded() -> dict | None:
            response = await timeline.post(
                f"/subjects/{subject_id}/attachments",
                params={"filename": "紹介状.pdf"},
                content=PDF,
                headers=doctor.headers,
            )
            return response.json() if response.status_code == 201 else None

        attachment = await eventually(uploaded, what="timeline to learn of the consent and team")
        post = await timeline.post(
            f"/subjects/{subject_id}/posts",
            json={
                "category": "instruction",
                "body": "訪問看護指示書を添付",
                "attachment_ids": [attachment["id"]],
            },
            headers=doctor.headers,
        )
        assert post.status_code == 201, post.text
        feed = (await timeline.get("/feed", headers=doctor.headers)).json()
        assert str(subject_id) in [item["subject_id"] for item in feed["items"]]

        withdrawn = await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
        )
        assert withdrawn.status_code == 201, withdrawn.text

        async def reported() -> dict | None:
            listed = await stack["consent"].client.get(
                f"/subjects/{subject_id}/withdrawals", headers=doctor.headers
            )
            steps = {s["service"]: s for s in listed.json()[0]["steps"]}
            return steps["timeline"] if steps["timeline"]["completed_at"] else None

        step = await eventually(reported, what="timeline's report to consent")
        assert step["items_affected"] == 1
        for response in (
            await timeline.get(f"/posts/{post.json()['id']}", headers=doctor.headers),
            await timeline.get(f"/attachments/{attachment['id']}/download", headers=doctor.headers),
            await timeline.get(f"/attachments/{attachment['id']}/content", headers=doctor.headers),
            await timeline.get(f"/subjects/{subject_id}/fhir", headers=doctor.headers),
            await timeline.post(
                f"/subjects/{subject_id}/attachments",
                params={"filename": "b.pdf"},
                content=PDF,
                headers=doctor.headers,
            ),
        ):
            assert_problem(response, 410, "support-stopped")
        feed = (await timeline.get("/feed", headers=doctor.headers)).json()
        assert str(subject_id) not in [item["subject_id"] for item in feed["items"]]
