"""Notify across services: a real post reaches the care team's inboxes and the mentioned nurse's mailbox
(a real SMTP server), and nothing more reaches her once she leaves the team (n1, n3, n5)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from services.notify.tests.notify_support import (
    Mailbox,
    choose,
    inbox,
    kinds_of,
    mail_server,  # noqa: F401 - the `mailbox` fixture
)
from tests.support.stack import Stack, Staff, eventually


async def subject_cared_for_by(stack: Stack, doctor: Staff, nurse: Staff) -> UUID:
    consent = stack["consent"].client
    created = await consent.post(
        "/subjects",
        json={"name": "結 花子", "name_kana": "ユイ ハナコ", "municipality_code": "232360"},
        headers=doctor.headers,
    )
    assert created.status_code == 201, created.text
    subject_id = UUID(created.json()["id"])
    given = await consent.post(
        f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=doctor.headers
    )
    assert given.status_code == 201, given.text
    invited = await consent.post(
        f"/subjects/{subject_id}/care-team", json={"user_id": str(nurse.user_id)}, headers=doctor.headers
    )
    assert invited.status_code == 201, invited.text
    accepted = await consent.post(
        f"/care-team/invitations/{invited.json()['id']}/accept", headers=nurse.headers
    )
    assert accepted.status_code == 200, accepted.text
    return subject_id


class TestNotifyAcrossServices:
    async def test_n1_n3_n5_a_post_reaches_the_team_and_stops_reaching_who_left(
        self, stack: Stack, mailbox: Mailbox
    ) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        address = f"{nurse.user_id}@example.jp"
        await choose(stack, nurse, email=address, channels={"post.mention": "email"})
        subject_id = await subject_cared_for_by(stack, doctor, nurse)
        timeline = stack["timeline"].client

        async def posted() -> dict | None:
            response = await timeline.post(
                f"/subjects/{subject_id}/posts",
                json={
                    "category": "visit",
                    "body": "訪問しました。血圧 132/80",
                    "mentions": [str(nurse.user_id)],
                },
                headers=doctor.headers,
            )
            return response.json() if response.status_code == 201 else None

        post = await eventually(posted, what="timeline to learn of the team")

        async def mentioned() -> list[str]:
            return [k for k in await kinds_of(stack, nurse) if k == "post.mention"]

        await eventually(mentioned, what="the mention in the nurse's inbox")
        [message] = await eventually(lambda: mailbox.to(address), what="the e-mail to the nurse")
        for personal in ("結", "花子", "血圧", str(subject_id), post["id"]):
            assert personal not in message.get_content() and personal not in str(message["Subject"])
        assert await kinds_of(stack, doctor) == []  # the author is not told of their own post

        removed = await stack["consent"].client.delete(
            f"/subjects/{subject_id}/care-team/{nurse.user_id}", headers=doctor.headers
        )
        assert removed.status_code == 204, removed.text

        async def nothing_left() -> bool:
            return (await inbox(stack, nurse))["items"] == []

        await eventually(nothing_left, what="what was queued for the nurse to be withheld")
