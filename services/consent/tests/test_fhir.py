"""c8: a subject as FHIR R4 (JP Core Patient, RelatedPerson, Consent, CareTeam), valid per fhir.resources."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.relatedperson import RelatedPerson
from sqlalchemy import text

from tests.support.stack import Stack

MODELS = {"Patient": Patient, "RelatedPerson": RelatedPerson, "Consent": Consent, "CareTeam": CareTeam}
REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"


class TestFhirExport:
    async def test_c8_subject_family_consents_and_team_export_as_valid_fhir_resources(
        self, stack: Stack
    ) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        client = stack["consent"].client
        created = await client.post(
            "/subjects",
            json={
                "name": "結 花子",
                "name_kana": "ユイ ハナコ",
                "birth_date": "1938-04-01",
                "sex": "female",
                "municipality_code": "232360",
                "postal_code": "470-0151",
                "address": "愛知県デモ市 1-2-3",
                "phone": "0561-00-0000",
                "family_contacts": [{"name": "結 一郎", "name_kana": "ユイ イチロウ", "relation": "長男"}],
                "confirm_not_duplicate": True,
            },
            headers=doctor.headers,
        )
        subject_id = UUID(created.json()["id"])
        invited = await client.post(
            f"/subjects/{subject_id}/care-team", json={"user_id": str(nurse.user_id)}, headers=doctor.headers
        )
        await client.post(f"/care-team/invitations/{invited.json()['id']}/accept", headers=nurse.headers)
        first = await client.post(
            f"/subjects/{subject_id}/consents",
            json={
                "given_on": "2026-01-05",
                "given_by": "proxy",
                "proxy_name": "結 一郎",
                "proxy_relation": "長男",
            },
            headers=doctor.headers,
        )
        await client.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
        )
        second = await client.post(
            f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=nurse.headers
        )

        response = await client.get(f"/subjects/{subject_id}/fhir", headers=nurse.headers)
        assert response.status_code == 200, response.text
        bundle = response.json()
        assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
        resources: dict[str, list[dict[str, Any]]] = {}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            MODELS[resource["resourceType"]].model_validate(resource)  # each is valid on its own
            resources.setdefault(resource["resourceType"], []).append(resource)
        assert {k: len(v) for k, v in resources.items()} == {
            "Patient": 1,
            "RelatedPerson": 1,
            "Consent": 2,
            "CareTeam": 1,
        }

        [patient] = resources["Patient"]
        assert patient["meta"]["profile"] == ["http://jpfhir.jp/fhir/core/StructureDefinition/JP_Patient"]
        names = {
            n["extension"][0]["valueCode"]: n
            for n in patient["name"]
            if n["extension"][0]["url"] == REPRESENTATION
        }
        assert (names["IDE"]["family"], names["IDE"]["given"]) == ("結", ["花子"])
        assert (names["SYL"]["family"], names["SYL"]["given"]) == ("ユイ", ["ハナコ"])
        assert (patient["gender"], patient["birthDate"]) == ("female", "1938-04-01")
        assert patient["address"][0]["postalCode"] == "470-0151"

        [relative] = resources["RelatedPerson"]
        assert relative["patient"]["reference"] == f"Patient/{subject_id}"
        assert relative["relationship"][0]["text"] == "長男"

        consents = {c["id"]: c for c in resources["Consent"]}
        withdrawn, active = consents[first.json()["id"]], consents[second.json()["id"]]
        assert withdrawn["status"] == "inactive" and "end" in withdrawn["provision"]["period"]
        assert withdrawn["performer"] == [{"display": "結 一郎 (長男)"}]
        assert active["status"] == "active" and active["performer"] == [
            {"reference": f"Patient/{subject_id}"}
        ]
        assert active["organization"][0]["identifier"]["value"] == str(nurse.facility_id)

        [team] = resources["CareTeam"]
        assert {p["member"]["identifier"]["value"] for p in team["participant"]} == {
            str(doctor.user_id),
            str(nurse.user_id),
        }


class TestNamesOfSpaces:
    async def test_c8_a_family_contact_named_with_spaces_only_still_exports_as_valid_fhir(
        self, stack: Stack
    ) -> None:
        """The API took a name of spaces until it learned to refuse one; such a name may still be stored. FHIR
        forbids an empty family part, so the export leaves it out instead of answering 500 (found by f6)."""
        doctor = stack.staff()
        client = stack["consent"].client
        created = await client.post(
            "/subjects",
            json={
                "name": "結 三郎",
                "name_kana": "ユイ サブロウ",
                "municipality_code": "232360",
                "family_contacts": [{"name": "結 花", "relation": "長女"}],
                "confirm_not_duplicate": True,
            },
            headers=doctor.headers,
        )
        assert created.status_code == 201, created.text
        async with stack["consent"].sessionmaker() as session, session.begin():
            await session.execute(
                text("UPDATE family_contacts SET name = :blank WHERE subject_id = :subject"),
                {"blank": "\u3000 ", "subject": created.json()["id"]},
            )
        read = await client.get(f"/subjects/{created.json()['id']}", headers=doctor.headers)
        assert read.status_code == 200, read.text
        exported = await client.get(f"/subjects/{created.json()['id']}/fhir", headers=doctor.headers)
        assert exported.status_code == 200, exported.text
        [contact] = [
            e["resource"]
            for e in exported.json()["entry"]
            if e["resource"]["resourceType"] == "RelatedPerson"
        ]
        RelatedPerson.model_validate(contact)
        assert "family" not in contact["name"][0]
