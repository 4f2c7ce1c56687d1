"""The medication list (issue 16 rec2): the network's drug master imported from the drug price list's CSV, two
facilities' prescriptions of one ingredient under different brand names (or of one duplicate class) warned to
everyone on the team, and the list refused and deleted with the posts after a withdrawal (rec6)."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text
from timeline.medications.matching import ingredient_base, ingredient_key
from timeline.medications.service import today

from services.timeline.tests.test_consumers import publish
from services.timeline.tests.timeline_support import assert_problem, refuse_withdrawn, subject_with_team
from tests.support.stack import Stack, Staff, eventually

SAMPLE = resources.files("timeline.medications").joinpath("drug_master_sample.csv").read_bytes()
LETTER = (Path(__file__).parent / "fixtures" / "jp_clins_discharge_summary.json").read_bytes()
NORVASC, AMLODIPINE_SAWAI = "2171022F2025", "2171022F2220"  # アムロジピンベシル酸塩, two brands
TAKEPRON, FAMOTIDINE = "2329023F2020", "2325003F2020"  # a PPI and an H2 blocker: one duplicate class
TODAY = today()  # Japan's calendar day, as the list counts days


def network(stack: Stack) -> tuple[str, Staff]:
    """A network of its own (the master is per network and tests run side by side), with its operator."""
    tenant = f"med{uuid4().hex[:10]}"
    return tenant, stack.staff(tenant=tenant, roles=("operator",))


async def import_master(stack: Stack, operator: Staff, data: bytes = SAMPLE) -> Any:
    return await stack["timeline"].client.put(
        "/drug-master", content=data, headers={**operator.headers, "content-type": "text/csv"}
    )


async def add(stack: Stack, staff: Staff, subject_id: UUID, **entry: Any) -> Any:
    body = {"dose": "1回1錠 1日1回 朝食後", "start_date": TODAY.isoformat(), **entry}
    return await stack["timeline"].client.post(
        f"/subjects/{subject_id}/medications", json=body, headers=staff.headers
    )


async def listing(stack: Stack, staff: Staff, subject_id: UUID) -> Any:
    return await stack["timeline"].client.get(f"/subjects/{subject_id}/medications", headers=staff.headers)


async def posts_of(stack: Stack, staff: Staff, subject_id: UUID) -> list[dict[str, Any]]:
    page = await stack["timeline"].client.get(f"/subjects/{subject_id}/posts", headers=staff.headers)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


class TestDuplicates:
    async def test_rec2_two_facilities_list_one_ingredient_under_two_brands_and_both_are_warned(
        self, stack: Stack
    ) -> None:
        tenant, operator = network(stack)
        assert (await import_master(stack, operator)).status_code == 200
        clinic_doctor, pharmacist = stack.staff(tenant=tenant), stack.staff(tenant=tenant)
        subject_id = await subject_with_team(stack, clinic_doctor, pharmacist)

        first = await add(stack, clinic_doctor, subject_id, drug_code=NORVASC, facility="結クリニック")
        assert first.status_code == 201, first.text
        assert first.json()["name"] == "ノルバスク錠5mg" and first.json()["state"] == "active"
        assert (await listing(stack, clinic_doctor, subject_id)).json()["warnings"] == []

        second = await add(
            stack,
            pharmacist,
            subject_id,
            drug_code=AMLODIPINE_SAWAI,
            facility="みよし病院",
            prescriber="佐藤",
        )
        assert second.status_code == 201, second.text

        for member in (clinic_doctor, pharmacist):
            answer = (await listing(stack, member, subject_id)).json()
            assert len(answer["warnings"]) == 1
            (warning,) = answer["warnings"]
            assert warning["kind"] == "ingredient" and warning["label"] == "アムロジピンベシル酸塩"
            assert warning["facilities"] == ["結クリニック", "みよし病院"]
            assert set(warning["medication_ids"]) == {first.json()["id"], second.json()["id"]}
        # The team was told on the timeline too, the second post with the warning in words.
        bodies = [p["body"] for p in await posts_of(stack, clinic_doctor, subject_id)]
        assert any("アムロジピン錠5mg「サワイ」" in b and "⚠ 重複投薬の可能性" in b for b in bodies)

        # Ending today keeps it current today (the last day it is taken), so the warning stands; the timeline
        # says it ended. A removal (entered in error) takes it off the check at once, and is said too.
        ended = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/medications/{first.json()['id']}/end",
            json={"end_date": TODAY.isoformat()},
            headers=clinic_doctor.headers,
        )
        assert ended.status_code == 200 and ended.json()["end_date"] == TODAY.isoformat()
        assert ended.json()["state"] == "active"
        assert len((await listing(stack, pharmacist, subject_id)).json()["warnings"]) == 1
        removed = await stack["timeline"].client.delete(
            f"/subjects/{subject_id}/medications/{first.json()['id']}", headers=clinic_doctor.headers
        )
        assert removed.status_code == 204
        after = (await listing(stack, pharmacist, subject_id)).json()
        assert after["warnings"] == [] and [m["id"] for m in after["items"]] == [second.json()["id"]]
        bodies = [p["body"] for p in await posts_of(stack, pharmacist, subject_id)]
        assert any(b.startswith("【お薬】ノルバスク錠5mg（結クリニック）") and "で終了" in b for b in bodies)
        assert any("ノルバスク錠5mg（結クリニック）の登録を誤登録として取り消しました" in b for b in bodies)

    async def test_rec2_two_ingredients_of_one_duplicate_class_are_warned_one_facility_twice_is_not(
        self, stack: Stack
    ) -> None:
        tenant, operator = network(stack)
        await import_master(stack, operator)
        nurse = stack.staff(tenant=tenant)
        subject_id = await subject_with_team(stack, nurse)
        # One facility listing an ingredient twice (morning and evening) is its own prescription.
        await add(stack, nurse, subject_id, drug_code=NORVASC, facility="結クリニック")
        await add(stack, nurse, subject_id, drug_code=NORVASC, facility="結クリニック", dose="1回1錠 夕食後")
        assert (await listing(stack, nurse, subject_id)).json()["warnings"] == []
        # A PPI from the clinic and an H2 blocker from the hospital: one class, two facilities.
        await add(stack, nurse, subject_id, drug_code=TAKEPRON, facility="結クリニック")
        await add(stack, nurse, subject_id, drug_code=FAMOTIDINE, facility="みよし病院")
        warnings = (await listing(stack, nurse, subject_id)).json()["warnings"]
        assert [(w["kind"], w["label"]) for w in warnings] == [
            ("class", "胃酸分泌抑制薬（PPI・P-CAB・H2 遮断薬）")
        ]
        # A medication that has not started yet still counts; one that ended yesterday does not.
        typed = await add(
            stack,
            nurse,
            subject_id,
            name="ランソプラゾールカプセル15mg",
            ingredient="ランソプラゾール",
            facility="みよし病院",
            start_date=(TODAY - timedelta(days=10)).isoformat(),
            end_date=(TODAY - timedelta(days=1)).isoformat(),
        )
        assert (
            typed.status_code == 201
            and typed.json()["state"] == "ended"
            and typed.json()["drug_code"] is None
        )
        kinds = sorted(w["kind"] for w in (await listing(stack, nurse, subject_id)).json()["warnings"])
        assert kinds == ["class"]

    def test_rec2_ingredients_match_without_their_salt_width_or_kana(self) -> None:
        assert ingredient_base("アムロジピンベシル酸塩") == ingredient_base("ｱﾑﾛｼﾞﾋﾟﾝ") == "アムロジピン"
        assert ingredient_base("ロキソプロフェンナトリウム水和物") == ingredient_base("ろきそぷろふぇん")
        assert ingredient_base("酸化マグネシウム") == "酸化マグネシウム"
        assert ingredient_key("ロキソプロフェンナトリウム水和物", "外用薬") != ingredient_key(
            "ロキソプロフェン"
        )


class TestEntries:
    async def test_rec2_what_the_list_refuses(self, stack: Stack) -> None:
        tenant, operator = network(stack)
        await import_master(stack, operator)
        nurse, outsider = stack.staff(tenant=tenant), stack.staff(tenant=tenant)
        subject_id = await subject_with_team(stack, nurse)
        assert_problem(
            await add(stack, nurse, subject_id, drug_code="9999999F9999", facility="結"), 422, "drug-unknown"
        )
        assert_problem(
            await add(stack, nurse, subject_id, name="何かの錠", facility="結"), 422, "medication-unnamed"
        )
        assert (await add(stack, nurse, subject_id, drug_code="abc", facility="結")).status_code == 422
        assert (await add(stack, nurse, subject_id, drug_code=NORVASC, facility="  ")).status_code == 422
        late = await add(
            stack,
            nurse,
            subject_id,
            drug_code=NORVASC,
            facility="結",
            end_date=(TODAY - timedelta(days=1)).isoformat(),
        )
        assert_problem(late, 422, "medication-period")
        assert (await listing(stack, nurse, subject_id)).json()["items"] == []
        # Need to know: an outsider learns nothing, not even whether a medication exists.
        kept = (await add(stack, nurse, subject_id, drug_code=NORVASC, facility="結")).json()
        assert_problem(await listing(stack, outsider, subject_id), 404, "not-found")
        assert_problem(
            await add(stack, outsider, subject_id, drug_code=NORVASC, facility="結"), 404, "not-found"
        )
        gone = await stack["timeline"].client.delete(
            f"/subjects/{subject_id}/medications/{kept['id']}", headers=outsider.headers
        )
        assert_problem(gone, 404, "not-found")
        unknown = await stack["timeline"].client.delete(
            f"/subjects/{subject_id}/medications/{uuid4()}", headers=nurse.headers
        )
        assert_problem(unknown, 404, "not-found")

    async def test_rec2_the_list_leaves_as_fhir_medication_statements(self, stack: Stack) -> None:
        from fhir.resources.R4B.bundle import Bundle
        from fhir.resources.R4B.medicationstatement import MedicationStatement

        tenant, operator = network(stack)
        await import_master(stack, operator)
        nurse = stack.staff(tenant=tenant)
        subject_id = await subject_with_team(stack, nurse)
        await add(stack, nurse, subject_id, drug_code=NORVASC, facility="結クリニック")
        exported = await stack["timeline"].client.get(f"/subjects/{subject_id}/fhir", headers=nurse.headers)
        assert exported.status_code == 200, exported.text
        Bundle.model_validate(exported.json())
        (found,) = [
            e["resource"]
            for e in exported.json()["entry"]
            if e["resource"]["resourceType"] == "MedicationStatement"
        ]
        MedicationStatement.model_validate(found)
        assert found["medicationCodeableConcept"]["coding"][0]["code"] == NORVASC
        assert found["status"] == "active" and found["dosage"][0]["text"] == "1回1錠 1日1回 朝食後"


class TestDrugMaster:
    async def test_rec2_the_operator_imports_the_price_list_csv_and_staff_search_it(
        self, stack: Stack
    ) -> None:
        tenant, operator = network(stack)
        nurse = stack.staff(tenant=tenant)
        assert_problem(await import_master(stack, nurse), 403, "operator-only")
        # Excel in Japan saves Shift_JIS: read as well as UTF-8.
        done = await import_master(stack, operator, SAMPLE.decode("utf-8").encode("cp932"))
        assert done.status_code == 200, done.text
        count = done.json()["count"]
        assert count == SAMPLE.decode("utf-8").count("\n") - 1
        status = await stack["timeline"].client.get("/drug-master/status", headers=nurse.headers)
        assert status.json()["count"] == count
        found = await stack["timeline"].client.get(
            "/drug-master", params={"q": "あむろじぴん"}, headers=nurse.headers
        )
        names = [d["name"] for d in found.json()["items"]]
        assert "ノルバスク錠5mg" in names and "アムロジピン錠5mg「サワイ」" in names
        by_code = await stack["timeline"].client.get(
            "/drug-master", params={"q": "2171022f2025"}, headers=nurse.headers
        )
        assert [d["name"] for d in by_code.json()["items"]] == ["ノルバスク錠5mg"]
        # Another network's master is its own.
        other = stack.staff(tenant=f"other{uuid4().hex[:8]}")
        assert (
            await stack["timeline"].client.get("/drug-master", params={"q": "アムロ"}, headers=other.headers)
        ).json()["items"] == []

    @pytest.mark.parametrize(
        ("csv", "reason"),
        [
            ("区分,成分名,品名\n内用薬,X,Y\n", "header"),
            ("区分,薬価基準収載医薬品コード,成分名,品名\n内用薬,12345,アムロジピン,A錠\n", "row"),
            ("区分,薬価基準収載医薬品コード,成分名,品名\n内用薬,2171022F2025,,A錠\n", "row"),
            (
                "区分,薬価基準収載医薬品コード,成分名,品名\n内用薬,2171022F2025,A,B\n内用薬,2171022F2025,A,C\n",
                "row",
            ),
            ("区分,薬価基準収載医薬品コード,成分名,品名\n注射,2171022F2025,A,B\n", "row"),
            (
                '区分,薬価基準収載医薬品コード,成分名,品名\n内用薬,2171022F2025,"A' + "x" * 200_000 + "\n",
                "file",
            ),
        ],
    )
    async def test_rec2_a_wrong_file_is_refused_whole_and_the_master_stays(
        self, stack: Stack, csv: str, reason: str
    ) -> None:
        _, operator = network(stack)
        await import_master(stack, operator)
        before = (await stack["timeline"].client.get("/drug-master/status", headers=operator.headers)).json()
        refused = assert_problem(
            await import_master(stack, operator, csv.encode()), 422, "drug-master-invalid"
        )
        if reason == "row":
            assert refused["errors"] and refused["errors"][0]["row"] >= 2
        after = (await stack["timeline"].client.get("/drug-master/status", headers=operator.headers)).json()
        assert after == before

    async def test_rec2_a_file_over_the_limit_is_refused_before_it_is_read_whole(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from timeline.medications import master

        _, operator = network(stack)
        monkeypatch.setattr(master, "MAX_BYTES", 1000)
        assert_problem(await import_master(stack, operator, SAMPLE), 413, "drug-master-too-large")


class TestRetention:
    async def test_t3_ended_medications_and_old_letters_go_with_the_posts_the_current_list_stays(
        self, stack: Stack
    ) -> None:
        from timeline.worker import apply_retention

        nurse = stack.staff()  # the demo network: five years' retention
        subject_id = await subject_with_team(stack, nurse)
        typed = {"ingredient": "アムロジピンベシル酸塩", "facility": "結"}
        old = (await add(stack, nurse, subject_id, name="古い処方", **typed)).json()
        current = (await add(stack, nurse, subject_id, name="今の処方", **typed)).json()
        letter = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/imports",
            content=LETTER,
            headers={**nurse.headers, "content-type": "application/fhir+json"},
        )
        assert letter.status_code == 201, letter.text
        async with stack["timeline"].sessionmaker() as session, session.begin():
            await session.execute(
                text(
                    "UPDATE medications SET start_date = now() - interval '7 years', "
                    "end_date = now() - interval '6 years', updated_at = now() - interval '6 years' WHERE id = :m"
                ),
                {"m": old["id"]},
            )
            await session.execute(
                text("UPDATE medications SET start_date = now() - interval '7 years' WHERE id = :m"),
                {"m": current["id"]},
            )
            await session.execute(
                text(
                    "UPDATE hospital_imports SET created_at = now() - interval '6 years' WHERE subject_id = :s"
                ),
                {"s": subject_id},
            )
            # A post as old, so the job visits this network (it goes network by network with old posts).
            await session.execute(
                text("UPDATE posts SET created_at = now() - interval '6 years' WHERE id = :p"),
                {"p": letter.json()["post_id"]},
            )
        worker = stack["timeline"].worker
        assert worker is not None
        await apply_retention(worker)
        async with stack["timeline"].sessionmaker() as session:
            left = (
                (
                    await session.execute(
                        text("SELECT id FROM medications WHERE subject_id = :s"), {"s": subject_id}
                    )
                )
                .scalars()
                .all()
            )
            letters = await session.scalar(
                text("SELECT count(*) FROM hospital_imports WHERE subject_id = :s"), {"s": subject_id}
            )
        assert [str(m) for m in left] == [current["id"]] and letters == 0


class TestWithdrawal:
    async def test_rec6_after_a_withdrawal_the_medications_are_refused_and_deleted_with_the_posts(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()  # the withdrawal's helpers speak for the demo network
        subject_id = await subject_with_team(stack, nurse)
        typed = {"name": "ノルバスク錠5mg", "ingredient": "アムロジピンベシル酸塩", "facility": "結"}
        kept = (await add(stack, nurse, subject_id, **typed)).json()
        imported = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/imports",
            content=LETTER,
            headers={**nurse.headers, "content-type": "application/fhir+json"},
        )
        assert imported.status_code == 201, imported.text
        withdrawal = await refuse_withdrawn(stack, subject_id)
        assert_problem(await listing(stack, nurse, subject_id), 410, "support-stopped")
        assert_problem(
            await add(stack, nurse, subject_id, drug_code=NORVASC, facility="結"), 410, "support-stopped"
        )
        ended = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/medications/{kept['id']}/end",
            json={"end_date": TODAY.isoformat()},
            headers=nurse.headers,
        )
        assert_problem(ended, 410, "support-stopped")

        await publish(stack, withdrawal, subject_id)

        async def gone() -> bool:
            async with stack["timeline"].sessionmaker() as session:
                left = await session.scalar(
                    text(
                        "SELECT (SELECT count(*) FROM medications WHERE subject_id = :s) "
                        "+ (SELECT count(*) FROM hospital_imports WHERE subject_id = :s)"
                    ),
                    {"s": subject_id},
                )
            return left == 0

        await eventually(gone, what="the deletion to take the medication list and the imported letters")
