"""Vitals as data (issue 16): an entry is recorded with the post that tells the team (rec3), out-of-range or
inconsistent measures are refused whole (rec3), the series reads oldest first with names, and a withdrawal
refuses and deletes vitals as it does posts (rec6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text

from services.timeline.tests.test_consumers import publish
from services.timeline.tests.timeline_support import assert_problem, refuse_withdrawn, subject_with_team
from tests.support.stack import Stack, Staff, eventually


async def count(stack: Stack, sql: str, **params: object) -> int:
    async with stack["timeline"].sessionmaker() as session:
        return int((await session.execute(text(sql), params)).scalar_one())


async def record(stack: Stack, staff: Staff, subject_id: UUID, **values: Any) -> Any:
    return await stack["timeline"].client.post(
        f"/subjects/{subject_id}/vitals", json=values, headers=staff.headers
    )


class TestRecording:
    async def test_rec3_an_entry_is_a_signed_post_in_words_and_a_row_of_data(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        answer = await record(
            stack,
            nurse,
            subject_id,
            systolic=132,
            diastolic=78,
            pulse=72,
            spo2=97,
            temperature=36.84,
            note="午後の訪問。",
        )
        assert answer.status_code == 201, answer.text
        entry = answer.json()
        assert (entry["systolic"], entry["diastolic"], entry["temperature"], entry["weight"]) == (
            132,
            78,
            36.8,
            None,
        )
        assert entry["author"]["id"] == str(nurse.user_id)

        posts = await stack["timeline"].client.get(f"/subjects/{subject_id}/posts", headers=nurse.headers)
        [post] = posts.json()["items"]
        assert post["id"] == entry["post_id"] and post["category"] == "vital_signs"
        assert (
            post["body"] == "午後の訪問。\n【バイタル】血圧 132/78 mmHg・脈拍 72 回/分・SpO₂ 97%・体温 36.8 ℃"
        )
        verified = await stack["timeline"].client.get(f"/posts/{post['id']}/versions", headers=nurse.headers)
        assert verified.status_code == 200 and verified.json()[0]["body"] == post["body"]

    async def test_rec3_out_of_range_or_inconsistent_measures_are_refused_whole(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        now = datetime.now(UTC)
        for values in (
            {"systolic": 1320, "diastolic": 78},  # a typo
            {"systolic": 132},  # half a blood pressure
            {"systolic": 78, "diastolic": 132},  # swapped
            {"spo2": 101},
            {"temperature": 45.0},
            {"pulse": 0},
            {"pulse": 70, "extra": 1},
        ):
            refused = await record(stack, nurse, subject_id, **values)
            assert refused.status_code == 422, (values, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
        for nothing in ({}, {"note": "メモだけ"}):  # checked once the caller may write: an outsider gets 404
            assert_problem(await record(stack, nurse, subject_id, **nothing), 422, "vitals-none")
        assert_problem(
            await record(
                stack, nurse, subject_id, pulse=70, measured_at=(now + timedelta(hours=1)).isoformat()
            ),
            422,
            "vitals-in-the-future",
        )
        assert_problem(
            await record(
                stack, nurse, subject_id, pulse=70, measured_at=(now - timedelta(days=31)).isoformat()
            ),
            422,
            "vitals-too-old",
        )
        assert await count(stack, "SELECT count(*) FROM vitals WHERE subject_id = :s", s=subject_id) == 0
        assert await count(stack, "SELECT count(*) FROM posts WHERE subject_id = :s", s=subject_id) == 0

    async def test_rec3_the_series_reads_a_week_oldest_first_and_an_outsider_sees_nothing(
        self, stack: Stack
    ) -> None:
        nurse, doctor, outsider = stack.staff(), stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        now = datetime.now(UTC)
        for day in range(7, -1, -1):
            measured = (now - timedelta(days=day, minutes=10)).isoformat()
            answer = await record(stack, nurse, subject_id, pulse=60 + day, spo2=96, measured_at=measured)
            assert answer.status_code == 201, answer.text
        week = await stack["timeline"].client.get(
            f"/subjects/{subject_id}/vitals", params={"days": 7}, headers=doctor.headers
        )
        assert week.status_code == 200, week.text
        pulses = [item["pulse"] for item in week.json()["items"]]
        assert pulses == [66, 65, 64, 63, 62, 61, 60]  # the 8th day back is outside the week
        assert (
            await count(
                stack,
                "SELECT count(*) FROM audit_log WHERE action = 'vitals.list' AND subject_id = :s",
                s=str(subject_id),
            )
            == 1
        )
        assert_problem(
            await stack["timeline"].client.get(f"/subjects/{subject_id}/vitals", headers=outsider.headers),
            404,
            "not-found",
        )
        assert_problem(await record(stack, outsider, subject_id, pulse=70), 404, "not-found")
        assert_problem(await record(stack, outsider, subject_id), 404, "not-found")

        # Its words and its data must not part: the post of an entry is not edited (delete and record again).
        newest = week.json()["items"][-1]["post_id"]
        edited = await stack["timeline"].client.post(
            f"/posts/{newest}/versions", json={"body": "脈拍 70", "category": "visit"}, headers=nurse.headers
        )
        assert_problem(edited, 409, "vitals-post")

        # A deleted post takes its entry off the chart.
        deleted = await stack["timeline"].client.delete(f"/posts/{newest}", headers=nurse.headers)
        assert deleted.status_code in (200, 204), deleted.text
        again = await stack["timeline"].client.get(f"/subjects/{subject_id}/vitals", headers=doctor.headers)
        assert [item["pulse"] for item in again.json()["items"]] == [66, 65, 64, 63, 62, 61]


class TestWithdrawal:
    async def test_rec6_after_a_withdrawal_vitals_are_refused_like_posts_and_deleted_with_them(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        assert (await record(stack, nurse, subject_id, pulse=70)).status_code == 201
        withdrawal = await refuse_withdrawn(stack, subject_id)
        client = stack["timeline"].client
        assert_problem(
            await client.get(f"/subjects/{subject_id}/vitals", headers=nurse.headers), 410, "support-stopped"
        )
        assert_problem(await record(stack, nurse, subject_id, pulse=71), 410, "support-stopped")

        await publish(stack, withdrawal, subject_id)

        async def gone() -> bool:
            return await count(stack, "SELECT count(*) FROM vitals WHERE subject_id = :s", s=subject_id) == 0

        await eventually(gone, what="the deletion to take the vitals with the posts")
        assert await count(stack, "SELECT count(*) FROM posts WHERE subject_id = :s", s=subject_id) == 0


class TestFhirExport:
    async def test_rec3_vitals_leave_in_the_fhir_export_as_vital_sign_observations(
        self, stack: Stack
    ) -> None:
        from fhir.resources.R4B.bundle import Bundle
        from fhir.resources.R4B.observation import Observation

        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        answer = await record(stack, nurse, subject_id, systolic=132, diastolic=78, spo2=97, weight=48.2)
        assert answer.status_code == 201, answer.text
        exported = await stack["timeline"].client.get(f"/subjects/{subject_id}/fhir", headers=nurse.headers)
        assert exported.status_code == 200, exported.text
        Bundle.model_validate(exported.json())
        found = {
            e["resource"]["code"]["coding"][0]["code"]: e["resource"]
            for e in exported.json()["entry"]
            if e["resource"]["resourceType"] == "Observation"
        }
        assert set(found) == {"85354-9", "59408-5", "29463-7"}
        for observation in found.values():
            Observation.model_validate(observation)
            assert observation["category"][0]["coding"][0]["code"] == "vital-signs"
            assert observation["subject"] == {"reference": f"Patient/{subject_id}"}
        systolic, diastolic = found["85354-9"]["component"]
        assert (systolic["valueQuantity"]["value"], diastolic["valueQuantity"]["value"]) == (132, 78)
        assert found["29463-7"]["valueQuantity"] == {
            "value": 48.2,
            "unit": "kg",
            "system": "http://unitsofmeasure.org",
            "code": "kg",
        }
