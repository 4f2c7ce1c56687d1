"""Issue 10 across the services: a notification names the patient (consent's subject-changed event), the author
(identity's person-changed event) and quotes the post (timeline's excerpt), and its link in the staff UI opens
that post (ux3); an invitation to a care team reaches the invitee naming the patient and the inviter (ux1)."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any
from uuid import UUID

from identity.people.service import republish_people
from notify.models import Person as NotifiedPerson
from sqlalchemy import func, select

from services.notify.tests.notify_support import inbox
from tests.browser.staff_ui import Network, make_network, sign_in
from tests.support.stack import Stack, Staff, eventually

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PATIENT = "結 花子"
BODY = "本日訪問しました。血圧 132/80、食欲あり。夜間の咳が続くため、明日の往診で聴診をお願いします。"


async def named_network(stack: Stack) -> tuple[Network, Staff, Staff]:
    """A network whose people every service knows by name: identity publishes them (its backfill of
    person-changed events, through its outbox and the bus), as it does for every new or changed user."""
    network = await make_network(stack)
    # Tokens first: making one introduces the person to consent's projection synchronously, which must not
    # wait on consent's worker applying the events below.
    doctor = stack.staff(
        tenant=network.tenant,
        facility_id=network.clinic_id,
        user_id=network.doctor.user_id,
        roles=("facility_admin", "staff"),
    )
    nurse = stack.staff(tenant=network.tenant, facility_id=network.station_id, user_id=network.nurse.user_id)
    async with stack["identity"].sessionmaker() as session, session.begin():
        await republish_people(session, tenant=network.tenant)

    async def notify_knows_them() -> bool:
        async with stack["notify"].sessionmaker() as session:
            known = await session.execute(
                select(func.count()).where(
                    NotifiedPerson.user_id.in_([network.doctor.user_id, network.nurse.user_id])
                )
            )
            return int(known.scalar_one()) == 2

    await eventually(notify_knows_them, what="notify to learn the network's people")
    return network, doctor, nurse


async def register(stack: Stack, doctor: Staff) -> UUID:
    consent = stack["consent"].client
    created = await consent.post(
        "/subjects",
        json={"name": PATIENT, "name_kana": "ユイ ハナコ", "municipality_code": "232360"},
        headers=doctor.headers,
    )
    assert created.status_code == 201, created.text
    subject_id = UUID(created.json()["id"])
    given = await consent.post(
        f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=doctor.headers
    )
    assert given.status_code == 201, given.text
    return subject_id


async def invite(stack: Stack, doctor: Staff, nurse: Staff, subject_id: UUID) -> UUID:
    invited = await stack["consent"].client.post(
        f"/subjects/{subject_id}/care-team", json={"user_id": str(nurse.user_id)}, headers=doctor.headers
    )
    assert invited.status_code == 201, invited.text
    return UUID(invited.json()["id"])


async def notification_of(stack: Stack, staff: Staff, kind: str) -> dict[str, Any]:
    async def arrived() -> dict[str, Any] | None:
        found = [n for n in (await inbox(stack, staff))["items"] if n["kind"] == kind]
        # Names come from projections fed by other services' events: wait until both are known.
        if found and found[0]["subject"]["name"] and found[0]["author"]["status"] != "unknown":
            return found[0]
        return None

    return await eventually(arrived, what=f"a {kind} notification naming the patient and the author")  # type: ignore[no-any-return]


class TestInvitation:
    async def test_ux1_invitee_is_notified_with_the_patients_name(self, stack: Stack) -> None:
        network, doctor, nurse = await named_network(stack)
        subject_id = await register(stack, doctor)
        await invite(stack, doctor, nurse, subject_id)

        item = await notification_of(stack, nurse, "care_team.invited")
        assert item["subject"]["name"] == PATIENT
        assert item["author"]["name"] == network.doctor.name
        assert item["author"]["facility_name"] == "結クリニック"

        # The staff UI says it in words, with the patient's name and the inviter, and leads to the invitation.
        page = (await (await sign_in(stack, network.nurse)).get("/staff/notifications")).text
        assert f"{PATIENT}さん" in page
        assert "ケアチームに招待されました" in page
        assert f"{network.doctor.name}（" in page and "結クリニック" in page
        shown = re.sub(r"<[^>]+>", " ", page)
        assert not UUID_PATTERN.search(shown), "no page shows a UUID"


class TestMention:
    async def test_ux3_a_mention_names_patient_author_and_excerpt_and_its_link_opens_the_post(
        self, stack: Stack
    ) -> None:
        network, doctor, nurse = await named_network(stack)
        subject_id = await register(stack, doctor)
        invitation_id = await invite(stack, doctor, nurse, subject_id)
        accepted = await stack["consent"].client.post(
            f"/care-team/invitations/{invitation_id}/accept", headers=nurse.headers
        )
        assert accepted.status_code == 200, accepted.text

        async def posted() -> dict[str, Any] | None:
            response = await stack["timeline"].client.post(
                f"/subjects/{subject_id}/posts",
                json={"category": "visit", "body": BODY, "mentions": [str(nurse.user_id)]},
                headers=doctor.headers,
            )
            return response.json() if response.status_code == 201 else None  # type: ignore[no-any-return]

        post = await eventually(posted, what="timeline to learn of the team")

        item = await notification_of(stack, nurse, "post.mention")
        assert item["subject"]["name"] == PATIENT
        assert item["author"]["name"] == network.doctor.name
        assert item["excerpt"] and BODY.startswith(item["excerpt"][:20])
        assert item["post_id"] == post["id"]

        nurse_ui = await sign_in(stack, network.nurse)
        page = (await nurse_ui.get("/staff/notifications")).text
        assert f"{PATIENT}さん" in page and "あなた宛ての投稿があります" in page
        assert f"{network.doctor.name}（" in page
        assert html.escape(item["excerpt"]) in page
        link = f'href="/staff/posts/{post["id"]}"'
        assert link in page
        opened = await nurse_ui.get(f"/staff/posts/{post['id']}")
        assert opened.status_code == 200
        assert html.escape(BODY) in opened.text
        # The home shows the same, grouped per patient.
        home = (await nurse_ui.get("/staff")).text
        assert f"{PATIENT}さん" in home and link in home
