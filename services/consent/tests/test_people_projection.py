"""Consent's projection of identity's people (identity.person-changed.v1) and what it serves: care teams and
invitations by name, and no invitation of someone the network does not know."""

from __future__ import annotations

from uuid import UUID, uuid4

from consent.consumers.people import subscription
from consent.models import Person
from uuid6 import uuid7
from yui_common.events import envelope_for
from yui_common.events.identity import PersonChangedV1

from services.consent.tests.test_team_rules import subject_of
from tests.support.bus import publish_direct
from tests.support.stack import Stack, eventually


async def person_changed(stack: Stack, tenant: str, **fields: object) -> None:
    """identity.person-changed.v1 through the real broker (routed by the exchange, as identity's relay does)."""
    data = PersonChangedV1.model_validate(
        {"profession": "nurse", "facility_name": "結訪問看護ステーション", "status": "active", **fields}
    )
    envelope = envelope_for(data, tenant=tenant, subject=None)
    await publish_direct(stack["consent"].settings.amqp_url, envelope, exchange="yui.events")


async def projected(stack: Stack, user_id: UUID) -> Person | None:
    async with stack["consent"].sessionmaker() as session:
        return await session.get(Person, user_id)


class TestPersonChanged:
    def test_the_queue_listens_to_identitys_people(self) -> None:
        assert subscription.routing_keys == [PersonChangedV1.event_type]

    async def test_a_person_is_kept_at_their_newest_version_whatever_order_events_arrive_in(
        self, stack: Stack
    ) -> None:
        tenant, user_id, facility_id = f"people-{uuid4().hex[:8]}", uuid7(), uuid4()
        common = {"user_id": user_id, "facility_id": facility_id}
        await person_changed(stack, tenant, name="山田 花子", name_kana="ヤマダ ハナコ", version=2, **common)
        await eventually(lambda: projected(stack, user_id), what="the person projected")
        # An older event arriving late, and the newest one repeated: neither moves the person back.
        await person_changed(stack, tenant, name="旧姓 花子", version=1, **common)
        await person_changed(stack, tenant, name="鈴木 花子", name_kana="スズキ ハナコ", version=3, **common)
        await person_changed(stack, tenant, name="鈴木 花子", name_kana="スズキ ハナコ", version=3, **common)

        async def renamed() -> bool:
            person = await projected(stack, user_id)
            return person is not None and person.version == 3

        await eventually(renamed, what="the newest version")
        person = await projected(stack, user_id)
        assert person is not None
        assert (person.name, person.name_kana, person.tenant, person.profession) == (
            "鈴木 花子",
            "スズキ ハナコ",
            tenant,
            "nurse",
        )


class TestTeamsByName:
    async def test_the_team_and_its_invitations_name_each_person_and_the_invitee_sees_the_patient(
        self, stack: Stack
    ) -> None:
        tenant = f"people-{uuid4().hex[:8]}"
        doctor = stack.staff(tenant=tenant)
        nurse_id, station = uuid7(), uuid4()
        await person_changed(
            stack,
            tenant,
            user_id=doctor.user_id,
            facility_id=doctor.facility_id,
            name="山田 太郎",
            profession="doctor",
            facility_name="結クリニック",
            version=1,
        )
        await person_changed(
            stack, tenant, user_id=nurse_id, facility_id=station, name="佐藤 花子", version=1
        )

        async def both_known() -> bool:
            doctor_row, nurse_row = await projected(stack, doctor.user_id), await projected(stack, nurse_id)
            return bool(doctor_row and doctor_row.version == 1 and nurse_row)

        await eventually(both_known, what="both people projected")
        nurse = stack.staff(tenant=tenant, user_id=nurse_id, facility_id=station)
        subject_id = await subject_of(stack, doctor, name="結 一郎", name_kana="ユイ イチロウ")
        consent = stack["consent"].client
        invited = await consent.post(
            f"/subjects/{subject_id}/care-team", json={"user_id": str(nurse_id)}, headers=doctor.headers
        )
        assert invited.status_code == 201, invited.text
        assert invited.json()["invitee"]["name"] == "佐藤 花子"
        assert invited.json()["invited_by_person"]["name"] == "山田 太郎"
        # The inviter did not say the facility: the invitee's own, from the projection.
        assert invited.json()["facility_id"] == str(station)

        pending = await consent.get(f"/subjects/{subject_id}/care-team/invitations", headers=doctor.headers)
        assert [i["invitee"]["name"] for i in pending.json()] == ["佐藤 花子"]

        [mine] = (await consent.get("/care-team/invitations", headers=nurse.headers)).json()
        assert mine["subject_name"] == "結 一郎"
        assert mine["invited_by_person"]["profession"] == "doctor"
        assert mine["invited_by_person"]["facility_name"] == "結クリニック"

        accepted = await consent.post(f"/care-team/invitations/{mine['id']}/accept", headers=nurse.headers)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["member"]["member"]["name"] == "佐藤 花子"
        team = (await consent.get(f"/subjects/{subject_id}/care-team", headers=doctor.headers)).json()
        assert [(m["member"]["name"], m["is_lead"]) for m in team] == [
            ("山田 太郎", True),
            ("佐藤 花子", False),
        ]
        assert all(set(m["member"]) >= {"id", "name", "profession", "facility_name"} for m in team)


class TestOnlyKnownPeopleAreInvited:
    async def test_an_id_the_network_does_not_know_is_refused_as_a_problem(self, stack: Stack) -> None:
        tenant = f"people-{uuid4().hex[:8]}"
        doctor = stack.staff(tenant=tenant)
        # Known, but in another network: unknown here.
        elsewhere = stack.staff(tenant=f"other-{uuid4().hex[:8]}")
        subject_id = await subject_of(stack, doctor, name="結 二郎", name_kana="ユイ ジロウ")
        for user_id in (uuid4(), elsewhere.user_id):
            refused = await stack["consent"].client.post(
                f"/subjects/{subject_id}/care-team", json={"user_id": str(user_id)}, headers=doctor.headers
            )
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["type"].endswith("unknown-person")
        pending = await stack["consent"].client.get(
            f"/subjects/{subject_id}/care-team/invitations", headers=doctor.headers
        )
        assert pending.json() == []

    async def test_a_suspended_person_is_not_invited(self, stack: Stack) -> None:
        tenant = f"people-{uuid4().hex[:8]}"
        doctor = stack.staff(tenant=tenant)
        user_id = uuid7()
        await person_changed(
            stack, tenant, user_id=user_id, facility_id=uuid4(), name="停止 中", status="suspended", version=1
        )
        await eventually(lambda: projected(stack, user_id), what="the person projected")
        subject_id = await subject_of(stack, doctor, name="結 三郎", name_kana="ユイ サブロウ")
        refused = await stack["consent"].client.post(
            f"/subjects/{subject_id}/care-team", json={"user_id": str(user_id)}, headers=doctor.headers
        )
        assert refused.status_code == 422
        assert refused.json()["type"].endswith("person-not-active")
