"""The subject registry: who may be registered (C1), the residence network (C7), likely duplicates (c9)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
from sqlalchemy import text

from tests.support.stack import Stack, Staff


def a_person(**overrides: Any) -> dict[str, Any]:
    """A subject nobody else registers: a kana name unique to this call."""
    unique = "".join(chr(0x30A2 + int(c, 16)) for c in uuid4().hex[:8])  # ア.. katakana from random hex
    return {
        "name": "結 太郎",
        "name_kana": f"ユイ {unique}",
        "birth_date": "1941-03-04",
        "sex": "male",
        "municipality_code": "232360",
        "postal_code": "470-0151",
        "address": "愛知県デモ市 1-2-3",
        "phone": "0561-00-0000",
        "family_contacts": [
            {"name": "結 花子", "relation": "長女", "phone": "090-0000-0000", "key_person": True}
        ],
        **overrides,
    }


def hiragana(katakana: str) -> str:
    return katakana.translate({c: c - 0x60 for c in range(0x30A1, 0x30F7)})


async def register(stack: Stack, staff: Staff, body: dict[str, Any]) -> httpx.Response:
    return await stack["consent"].client.post("/subjects", json=body, headers=staff.headers)


async def scalar(stack: Stack, sql: str, **params: Any) -> Any:
    async with stack["consent"].sessionmaker() as session:
        return (await session.execute(text(sql), params)).scalar_one()


class TestWhoMayBeRegistered:
    async def test_c1_resident_of_the_networks_municipalities_is_registered_with_every_field(
        self, stack: Stack
    ) -> None:
        doctor = stack.staff()
        person = a_person()
        response = await register(stack, doctor, person)
        assert response.status_code == 201, response.text
        subject_id = response.json()["id"]
        read = (await stack["consent"].client.get(f"/subjects/{subject_id}", headers=doctor.headers)).json()
        for field in (
            "name",
            "name_kana",
            "birth_date",
            "sex",
            "municipality_code",
            "postal_code",
            "address",
            "phone",
        ):
            assert read[field] == person[field], field
        [contact] = read["family_contacts"]
        assert (contact["name"], contact["relation"], contact["key_person"]) == ("結 花子", "長女", True)

    async def test_c1_resident_of_another_municipality_is_refused_and_nothing_is_written(
        self, stack: Stack
    ) -> None:
        doctor = stack.staff()
        before = await scalar(stack, "SELECT count(*) FROM subjects")
        response = await register(stack, doctor, a_person(municipality_code="131016"))
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["type"] == "urn:yui:problem:outside-network"
        assert "232360" in problem["municipalities"]
        assert await scalar(stack, "SELECT count(*) FROM subjects") == before

    async def test_c1_a_name_of_spaces_alone_is_refused_and_surrounding_spaces_are_not_kept(
        self, stack: Stack
    ) -> None:
        doctor = stack.staff()
        before = await scalar(stack, "SELECT count(*) FROM subjects")
        for blank in ({"name": "  "}, {"name_kana": "\u3000"}):
            response = await register(stack, doctor, a_person(**blank))
            assert response.status_code == 422, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
        contact = {"name": " ", "relation": "長女"}
        response = await register(stack, doctor, a_person(family_contacts=[contact]))
        assert response.status_code == 422, response.text
        assert await scalar(stack, "SELECT count(*) FROM subjects") == before

        person = a_person(name=" 結 次郎\u3000")
        created = await register(stack, doctor, person)
        assert created.status_code == 201, created.text
        subject = f"/subjects/{created.json()['id']}"
        read = (await stack["consent"].client.get(subject, headers=doctor.headers)).json()
        assert read["name"] == "結 次郎"
        blanked = await stack["consent"].client.patch(subject, json={"name": " "}, headers=doctor.headers)
        assert blanked.status_code == 422, blanked.text

    async def test_c1_operator_exception_admits_that_one_person_once_with_its_reason_recorded(
        self, stack: Stack
    ) -> None:
        doctor, operator = stack.staff(), stack.staff(roles=("operator",))
        person = a_person(municipality_code="131016")
        exception = {
            "municipality_code": "131016",
            # Typed in hiragana by the operator: the same person as the katakana the doctor types.
            "name_kana": hiragana(person["name_kana"]),
            "birth_date": person["birth_date"],
            "reason": "娘宅に一時転居中。元の住所は本ネットワーク内。",
        }
        refused_for_staff = await stack["consent"].client.post(
            "/residence-exceptions", json=exception, headers=doctor.headers
        )
        assert refused_for_staff.status_code == 403
        approved = await stack["consent"].client.post(
            "/residence-exceptions", json=exception, headers=operator.headers
        )
        assert approved.status_code == 201, approved.text
        exception_id = approved.json()["id"]

        someone_else = await register(
            stack, doctor, a_person(municipality_code="131016", residence_exception_id=exception_id)
        )
        assert someone_else.status_code == 422, "an exception admits only the person it names"
        admitted = await register(stack, doctor, {**person, "residence_exception_id": exception_id})
        assert admitted.status_code == 201, admitted.text
        again = await register(
            stack, doctor, {**person, "residence_exception_id": exception_id, "confirm_not_duplicate": True}
        )
        assert again.status_code == 422, "an exception is used once"
        recorded = await scalar(
            stack, "SELECT residence_exception_id FROM subjects WHERE id = :s", s=UUID(admitted.json()["id"])
        )
        assert str(recorded) == exception_id
        assert (
            await scalar(stack, "SELECT reason FROM residence_exceptions WHERE id = :e", e=UUID(exception_id))
            == exception["reason"]
        )

    async def test_c7_the_residence_network_is_recorded(self, stack: Stack) -> None:
        doctor = stack.staff()
        response = await register(stack, doctor, a_person())
        assert response.json()["residence_network"] == "demo"


class TestLikelyDuplicates:
    async def test_c9_same_kana_typed_differently_and_same_birth_date_shows_candidates_first(
        self, stack: Stack
    ) -> None:
        clinic, station = stack.staff(), stack.staff()
        person = a_person()
        first = await register(stack, clinic, person)
        assert first.status_code == 201, first.text
        katakana = person["name_kana"]
        half_width_and_hiragana = [
            katakana.replace(" ", "　"),  # full-width space
            "ゆい" + katakana[2:],  # hiragana family name
            "ﾕｲ" + katakana[2:],  # half-width katakana family name
        ]
        subjects_before = await scalar(stack, "SELECT count(*) FROM subjects")
        for variant in half_width_and_hiragana:
            response = await register(stack, station, a_person(name_kana=variant))
            assert response.status_code == 409, (variant, response.text)
            problem = response.json()
            assert problem["type"] == "urn:yui:problem:likely-duplicate"
            [candidate] = problem["candidates"]
            # The candidate is recognisable but not disclosed: no name in kanji, no address, not on my team.
            assert candidate == {
                "id": first.json()["id"],
                "name_kana": katakana,
                "birth_date": person["birth_date"],
                "registered_at": candidate["registered_at"],
                "on_my_team": False,
            }
        assert await scalar(stack, "SELECT count(*) FROM subjects") == subjects_before

        confirmed = await register(stack, station, a_person(name_kana=katakana, confirm_not_duplicate=True))
        assert confirmed.status_code == 201, confirmed.text
        mine = await register(stack, clinic, a_person(name_kana=katakana))
        assert {c["on_my_team"] for c in mine.json()["candidates"]} == {True, False}

    async def test_c9_same_name_with_another_birth_date_or_in_another_network_is_no_duplicate(
        self, stack: Stack
    ) -> None:
        clinic = stack.staff()
        person = a_person()
        assert (await register(stack, clinic, person)).status_code == 201
        other_birthday = await register(
            stack, clinic, a_person(name_kana=person["name_kana"], birth_date="1950-05-05")
        )
        assert other_birthday.status_code == 201, other_birthday.text
        elsewhere = await register(stack, stack.staff(tenant=f"net-{uuid4().hex[:8]}"), person)
        assert elsewhere.status_code == 201, elsewhere.text


class TestSearch:
    async def test_c6_search_finds_my_subjects_by_kana_typed_any_way_and_never_others(
        self, stack: Stack
    ) -> None:
        me, other = stack.staff(), stack.staff()
        person = a_person()
        mine = (await register(stack, me, person)).json()["id"]
        theirs = (await register(stack, other, {**person, "confirm_not_duplicate": True})).json()["id"]
        prefix = "ゆい" + person["name_kana"][3:5]
        found = await stack["consent"].client.get("/subjects", params={"kana": prefix}, headers=me.headers)
        assert found.status_code == 200, found.text
        ids = [s["id"] for s in found.json()]
        assert mine in ids and theirs not in ids
        audited = await scalar(
            stack,
            "SELECT count(*) FROM audit_log WHERE action = 'subject.search' AND actor_id = :a",
            a=str(me.user_id),
        )
        assert audited == 1
