"""The patient summary (issue 16): every save is a new signed version and the earlier ones stay (rec1), who
recorded the ACP wishes is kept while they stand, a stale edit is refused, and a withdrawal refuses and deletes
the summary as it does posts (rec6)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import text

from services.timeline.tests.test_consumers import publish
from services.timeline.tests.timeline_support import assert_problem, refuse_withdrawn, subject_with_team
from tests.support.stack import Stack, Staff, eventually

FIRST: dict[str, Any] = {
    "family_doctor": {"name": "山田 太郎", "facility": "結クリニック", "phone": "0561-00-0001"},
    "visiting_nurse_station": {"name": "結訪問看護ステーション", "phone": "0561-00-0002"},
    "emergency_contacts": [{"name": "結 花子", "relation": "長女", "phone": "090-0000-0000"}],
    "problems": [{"name": "慢性心不全", "since": "2019年"}],
    "allergies": [{"substance": "ペニシリン", "reaction": "発疹"}],
    "care_level": "care_2",
    "adl": "屋内は伝い歩き。入浴は介助。",
    "acp": {"wishes": "自宅で最期を迎えたい。", "dnar": "yes"},
    "living_situation": "長女と同居。日中は独居。",
}


async def save(stack: Stack, staff: Staff, subject_id: UUID, expected: int, content: dict[str, Any]) -> Any:
    return await stack["timeline"].client.put(
        f"/subjects/{subject_id}/summary",
        json={"expected_version": expected, "content": content},
        headers=staff.headers,
    )


async def read(stack: Stack, staff: Staff, subject_id: UUID, path: str = "") -> Any:
    return await stack["timeline"].client.get(f"/subjects/{subject_id}/summary{path}", headers=staff.headers)


class TestVersions:
    async def test_rec1_an_edit_keeps_the_earlier_version_and_every_signature_verifies(
        self, stack: Stack
    ) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        empty = await read(stack, nurse, subject_id)
        assert empty.status_code == 200 and empty.json()["version"] == 0 and empty.json()["content"] is None

        first = await save(stack, nurse, subject_id, 0, FIRST)
        assert first.status_code == 201, first.text
        assert first.json()["version"] == 1 and first.json()["author"]["id"] == str(nurse.user_id)
        second_content = {**FIRST, "family_doctor": {"name": "佐藤 次郎", "facility": "みよし診療所"}}
        second = await save(stack, doctor, subject_id, 1, second_content)
        assert second.status_code == 201, second.text

        now = (await read(stack, nurse, subject_id)).json()
        assert now["version"] == 2 and now["content"]["family_doctor"]["name"] == "佐藤 次郎"
        # The ACP part did not change: who recorded it is still the nurse, at the first version's time.
        assert now["acp_recorded_by"]["id"] == str(nurse.user_id)
        assert now["acp_recorded_at"] == first.json()["created_at"]

        versions = (await read(stack, doctor, subject_id, "/versions")).json()["items"]
        assert [v["version"] for v in versions] == [2, 1]
        assert versions[1]["content"]["family_doctor"]["name"] == "山田 太郎"
        assert all(v["signature_valid"] for v in versions)

        # A version rewritten behind the application's back (the trigger refuses an UPDATE; a superuser
        # disabling it is what this simulates) no longer verifies.
        async with stack["timeline"].sessionmaker() as session, session.begin():
            await session.execute(
                text("ALTER TABLE summary_versions DISABLE TRIGGER summary_versions_no_update")
            )
            await session.execute(
                text(
                    "UPDATE summary_versions SET content = jsonb_set(content, '{allergies}', '[]') "
                    "WHERE subject_id = :s AND version = 1"
                ),
                {"s": subject_id},
            )
            await session.execute(
                text("ALTER TABLE summary_versions ENABLE TRIGGER summary_versions_no_update")
            )
        checked = (await read(stack, doctor, subject_id, "/versions")).json()["items"]
        assert [v["signature_valid"] for v in checked] == [True, False]

    async def test_rec1_a_version_is_never_updated_in_place(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        assert (await save(stack, nurse, subject_id, 0, FIRST)).status_code == 201
        async with stack["timeline"].sessionmaker() as session:
            try:
                async with session.begin():
                    await session.execute(
                        text("UPDATE summary_versions SET content = '{}' WHERE subject_id = :s"),
                        {"s": subject_id},
                    )
            except Exception as refused:
                assert "append-only" in str(refused)
            else:
                raise AssertionError("an UPDATE of a summary version went through")

    async def test_rec1_a_stale_edit_is_refused_and_who_changed_the_acp_is_recorded(
        self, stack: Stack
    ) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        assert (await save(stack, nurse, subject_id, 0, FIRST)).status_code == 201
        stale = await save(stack, doctor, subject_id, 0, {**FIRST, "adl": "自立"})
        body = assert_problem(stale, 409, "summary-changed")
        assert body["current_version"] == 1

        changed = await save(
            stack, doctor, subject_id, 1, {**FIRST, "acp": {"wishes": "病院での治療も望む。", "dnar": "no"}}
        )
        assert changed.status_code == 201, changed.text
        assert changed.json()["acp_recorded_by"]["id"] == str(doctor.user_id)
        assert (await read(stack, nurse, subject_id, "/versions")).json()["items"][0]["acp_recorded_by"][
            "id"
        ] == str(doctor.user_id)

    async def test_rec1_invalid_content_is_refused_whole_and_an_outsider_sees_nothing(
        self, stack: Stack
    ) -> None:
        nurse, outsider = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        for content in (
            {**FIRST, "no_known_allergies": True},  # and allergies listed
            {"family_doctor": {"name": "  "}},
            {"care_level": "要介護2"},
            {"emergency_contacts": [{"name": f"連絡先{n}"} for n in range(6)]},
            {"acp": {"dnar": "maybe"}},
            {"unknown": 1},
        ):
            refused = await save(stack, nurse, subject_id, 0, content)
            assert refused.status_code == 422, (content, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
        assert (await read(stack, nurse, subject_id)).json()["version"] == 0
        assert_problem(await read(stack, outsider, subject_id), 404, "not-found")
        assert_problem(await save(stack, outsider, subject_id, 0, FIRST), 404, "not-found")
        assert_problem(await read(stack, outsider, subject_id, "/versions"), 404, "not-found")
        async with stack["timeline"].sessionmaker() as session:
            actions = (
                (
                    await session.execute(
                        text("SELECT action FROM audit_log WHERE subject_id = :s"),
                        {"s": str(subject_id)},
                    )
                )
                .scalars()
                .all()
            )
        assert "summary.read" in actions


class TestWithdrawal:
    async def test_rec6_after_a_withdrawal_the_summary_is_refused_and_deleted_with_the_posts(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        assert (await save(stack, nurse, subject_id, 0, FIRST)).status_code == 201
        withdrawal = await refuse_withdrawn(stack, subject_id)
        assert_problem(await read(stack, nurse, subject_id), 410, "support-stopped")
        assert_problem(await save(stack, nurse, subject_id, 1, FIRST), 410, "support-stopped")
        assert_problem(await read(stack, nurse, subject_id, "/versions"), 410, "support-stopped")

        await publish(stack, withdrawal, subject_id)

        async def gone() -> bool:
            async with stack["timeline"].sessionmaker() as session:
                left = (
                    await session.execute(
                        text("SELECT count(*) FROM summary_versions WHERE subject_id = :s"), {"s": subject_id}
                    )
                ).scalar_one()
            return left == 0

        await eventually(gone, what="the deletion to take the summary's versions")


class TestFhirExport:
    async def test_rec1_the_summarys_allergies_and_problems_leave_as_fhir(self, stack: Stack) -> None:
        from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
        from fhir.resources.R4B.bundle import Bundle
        from fhir.resources.R4B.condition import Condition

        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        assert (await save(stack, nurse, subject_id, 0, FIRST)).status_code == 201
        newer = {**FIRST, "allergies": [{"substance": "セフェム系", "reaction": "呼吸困難"}]}
        assert (await save(stack, nurse, subject_id, 1, newer)).status_code == 201
        exported = await stack["timeline"].client.get(f"/subjects/{subject_id}/fhir", headers=nurse.headers)
        assert exported.status_code == 200, exported.text
        Bundle.model_validate(exported.json())
        resources = [e["resource"] for e in exported.json()["entry"]]
        allergies = [r for r in resources if r["resourceType"] == "AllergyIntolerance"]
        conditions = [r for r in resources if r["resourceType"] == "Condition"]
        for resource in allergies:
            AllergyIntolerance.model_validate(resource)
        for resource in conditions:
            Condition.model_validate(resource)
        # The current version only: the earlier allergy is history, not the patient's list.
        assert [a["code"]["text"] for a in allergies] == ["セフェム系"]
        assert allergies[0]["reaction"][0]["manifestation"][0]["text"] == "呼吸困難"
        assert [(c["code"]["text"], c.get("onsetString")) for c in conditions] == [("慢性心不全", "2019年")]
        assert allergies[0]["patient"] == {"reference": f"Patient/{subject_id}"}
