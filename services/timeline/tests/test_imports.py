"""Hospital letters imported as FHIR (issue 16 rec5): a JP-CLINS discharge summary is validated, kept, shown on the
timeline as a readable letter and its medications, allergies and problems are offered once each (to the list, to
the summary); a broken Bundle is refused with the validator's reason and nothing written; outsiders learn nothing;
a withdrawal refuses imports like posts (rec6)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import text
from timeline.imports.fhir import narrative_text, read_letter
from timeline.imports.seed import import_demo_letter
from timeline.medications import master

from services.timeline.tests.timeline_support import assert_problem, refuse_withdrawn, subject_with_team
from tests.support.stack import Stack, Staff

FIXTURE = Path(__file__).parent / "fixtures" / "jp_clins_discharge_summary.json"
DRUG_MASTER = (
    Path(__file__).parents[1] / "src" / "timeline" / "medications" / "drug_master_sample.csv"
).read_bytes()
FHIR_JSON = {"content-type": "application/fhir+json"}


def letter() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


async def count(stack: Stack, sql: str, **params: object) -> int:
    async with stack["timeline"].sessionmaker() as session:
        return int((await session.execute(text(sql), params)).scalar_one())


async def with_drug_master(stack: Stack) -> None:
    """The network's drug master as its operator imports it (the fixture's YJ codes are in it)."""
    async with stack["timeline"].sessionmaker() as session, session.begin():
        await master.replace(session, tenant="demo", data=DRUG_MASTER)


async def upload(stack: Stack, staff: Staff, subject_id: UUID, document: object) -> Any:
    return await stack["timeline"].client.post(
        f"/subjects/{subject_id}/imports",
        content=json.dumps(document, ensure_ascii=False).encode(),
        headers={**staff.headers, **FHIR_JSON},
    )


async def decide(
    stack: Stack, staff: Staff, subject_id: UUID, import_id: str, index: int, decision: str = "accept"
) -> Any:
    return await stack["timeline"].client.post(
        f"/subjects/{subject_id}/imports/{import_id}/offers/{index}/{decision}", headers=staff.headers
    )


async def get(stack: Stack, staff: Staff, path: str) -> Any:
    return await stack["timeline"].client.get(path, headers=staff.headers)


class TestReadingTheLetter:
    def test_rec5_the_fixture_reads_as_a_discharge_summary_with_its_offers(self) -> None:
        found = read_letter(letter())
        assert (found.kind, found.title, found.author_org, found.author_name) == (
            "discharge_summary",
            "退院時サマリー（誤嚥性肺炎）",
            "結総合病院",
            "三好 健太",  # the kanji form (IDE), not the kana (SYL) given first
        )
        assert [s.title for s in found.sections][:3] == ["入院理由", "入院時診断", "入院中経過"]
        medications = [o for o in found.offers if o.kind == "medication"]
        assert medications[0].label == "アムロジピン錠5mg「サワイ」 1回1錠 1日1回朝食後"
        # The YJ coding is taken, not the HOT9 one listed before it.
        assert [m.data["drug_code"] for m in medications] == ["2171022F2220", "2329023F2160", "2344009F2022"]
        assert (
            medications[0].data["facility"] == "結総合病院"
            and medications[0].data["prescriber"] == "三好 健太"
        )
        assert [o.kind for o in found.offers] == ["medication"] * 3 + ["allergy", "problem", "problem"]

    def test_rec5_the_narrative_is_text_and_markup_cannot_pass(self) -> None:
        div = (
            '<div xmlns="http://www.w3.org/1999/xhtml"><p>発熱 &amp; 咳嗽 &lt;b&gt;</p><ul><li>一</li><li>二</li>'
            "</ul><script>alert(1)</script><img src=x onerror=alert(1)><style>p{}</style></div>"
        )
        assert narrative_text(div) == "発熱 & 咳嗽 <b>\n\n・一\n・二"  # a paragraph, then a list


class TestImporting:
    async def test_rec5_a_discharge_summary_imports_and_its_medications_are_listed_once(
        self, stack: Stack
    ) -> None:
        await with_drug_master(stack)
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        answer = await upload(stack, nurse, subject_id, letter())
        assert answer.status_code == 201, answer.text
        imported = answer.json()
        assert (imported["kind"], imported["author_org"], imported["document_date"]) == (
            "discharge_summary",
            "結総合病院",
            "2026-11-20",
        )
        assert imported["offers"] == {"offered": 6, "accepted": 0, "declined": 0}

        # On the timeline: the letter as readable text, title, hospital, date, author, sections, offers.
        [post] = (await get(stack, nurse, f"/subjects/{subject_id}/posts")).json()["items"]
        assert post["id"] == imported["post_id"] and post["category"] == "treatment"
        body = post["body"]
        for words in (
            "【退院時サマリー】退院時サマリー（誤嚥性肺炎）",
            "医療機関: 結総合病院",
            "作成日: 2026-11-20",
            "作成者: 三好 健太",
            "■ 入院中経過",
            "とろみ付きの全粥・軟菜食とした。",
            "・お薬: アムロジピン錠5mg「サワイ」 1回1錠 1日1回朝食後",
            "・アレルギー: ペニシリン系抗菌薬（全身性の発疹）",
        ):
            assert words in body, (words, body)
        assert "<" not in body and "alert" not in body

        medications = [o for o in imported["items"] if o["kind"] == "medication"]
        for offer in medications:
            accepted = await decide(stack, nurse, subject_id, imported["id"], offer["index"])
            assert accepted.status_code == 200, accepted.text
            assert accepted.json()["status"] == "accepted"
            assert accepted.json()["decided_by"]["id"] == str(nurse.user_id)
        listed = (await get(stack, nurse, f"/subjects/{subject_id}/medications")).json()["items"]
        assert sorted(m["drug_code"] for m in listed) == ["2171022F2220", "2329023F2160", "2344009F2022"]
        assert {m["source"] for m in listed} == {"import"} and {m["facility"] for m in listed} == {
            "結総合病院"
        }

        # Accepting again: refused, the list unchanged.
        again = await decide(stack, nurse, subject_id, imported["id"], medications[0]["index"])
        assert_problem(again, 409, "offer-decided")
        assert len((await get(stack, nurse, f"/subjects/{subject_id}/medications")).json()["items"]) == 3

        # The same Bundle again for this subject: refused, nothing more written.
        assert_problem(await upload(stack, nurse, subject_id, letter()), 409, "bundle-already-imported")
        assert (
            await count(stack, "SELECT count(*) FROM hospital_imports WHERE subject_id = :s", s=subject_id)
            == 1
        )
        shown = (await get(stack, nurse, f"/subjects/{subject_id}/imports/{imported['id']}")).json()
        assert [o["status"] for o in shown["items"]] == ["accepted"] * 3 + ["offered"] * 3
        assert shown["sections"][0] == {
            "title": "入院理由",
            "text": "2026年11月2日、発熱（38.6℃）と湿性咳嗽、SpO₂ 88%（室内気）のため救急搬送され入院。",
        }
        listing = (await get(stack, nurse, f"/subjects/{subject_id}/imports")).json()["items"]
        assert [(i["id"], i["offers"]["accepted"]) for i in listing] == [(imported["id"], 3)]
        actions = await count(
            stack,
            "SELECT count(*) FROM audit_log WHERE subject_id = :s AND action IN "
            "('import.create', 'import.accept', 'import.read', 'import.list')",
            s=str(subject_id),
        )
        assert actions == 1 + 3 + 1 + 1

    async def test_rec5_an_invalid_bundle_is_refused_with_the_validators_reason(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        broken = letter()
        del broken["entry"][0]["resource"]["status"]
        refused = assert_problem(await upload(stack, nurse, subject_id, broken), 422, "bundle-invalid")
        assert refused["detail"].startswith("entry.0.resource.status: "), refused["detail"]
        assert "required" in refused["detail"]

        wrong_type = letter()
        wrong_type["entry"][5]["resource"]["authoredOn"] = "20th November"
        refused = assert_problem(await upload(stack, nurse, subject_id, wrong_type), 422, "bundle-invalid")
        assert refused["detail"].startswith("entry.5.resource.authoredOn: "), refused["detail"]

        not_a_letter = letter()
        not_a_letter["entry"][0]["resource"]["type"]["coding"] = [
            {"system": "http://loinc.org", "code": "11502-2"}
        ]
        refused = assert_problem(await upload(stack, nurse, subject_id, not_a_letter), 422, "bundle-invalid")
        assert "18842-5" in refused["detail"]
        collection = {**letter(), "type": "collection"}
        assert_problem(await upload(stack, nurse, subject_id, collection), 422, "bundle-invalid")
        unknown = copy.deepcopy(letter())
        unknown["entry"][1]["resource"]["resourceType"] = "Patientt"
        assert_problem(await upload(stack, nurse, subject_id, unknown), 422, "bundle-invalid")
        not_json = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/imports", content=b"{not json", headers={**nurse.headers, **FHIR_JSON}
        )
        assert_problem(not_json, 422, "bundle-invalid")
        as_text = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/imports",
            content=json.dumps(letter()).encode(),
            headers={**nurse.headers, "content-type": "text/plain"},
        )
        assert_problem(as_text, 415, "unsupported-media-type")
        too_large = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/imports",
            content=b" " * (5 * 1024 * 1024 + 1),
            headers={**nurse.headers, **FHIR_JSON},
        )
        assert_problem(too_large, 413, "payload-too-large")

        for table in ("hospital_imports", "posts"):
            assert (
                await count(stack, f"SELECT count(*) FROM {table} WHERE subject_id = :s", s=subject_id) == 0
            )

    async def test_rec5_an_accepted_allergy_is_a_new_summary_version_and_a_declined_item_is_kept_as_such(
        self, stack: Stack
    ) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        imported = (await upload(stack, nurse, subject_id, letter())).json()
        by_kind = {o["kind"]: o["index"] for o in reversed(imported["items"])}  # the first of each kind

        # No summary yet: accepting the allergy writes version 1 holding it alone.
        accepted = await decide(stack, doctor, subject_id, imported["id"], by_kind["allergy"])
        assert accepted.status_code == 200, accepted.text
        first = (await get(stack, nurse, f"/subjects/{subject_id}/summary")).json()
        assert first["version"] == 1
        assert first["content"]["allergies"] == [
            {"substance": "ペニシリン系抗菌薬", "reaction": "全身性の発疹"}
        ]
        assert first["content"]["problems"] == [] and first["content"]["family_doctor"] is None

        # A problem the summary already names (written with other widths and spaces) adds no version.
        saved = await stack["timeline"].client.put(
            f"/subjects/{subject_id}/summary",
            json={
                "expected_version": 1,
                "content": {**first["content"], "problems": [{"name": "誤嚥性 肺炎"}]},
            },
            headers=nurse.headers,
        )
        assert saved.status_code == 201, saved.text
        assert (await decide(stack, nurse, subject_id, imported["id"], by_kind["problem"])).status_code == 200
        assert (await get(stack, nurse, f"/subjects/{subject_id}/summary")).json()["version"] == 2
        # The other problem is new: version 3 holds both.
        other = next(o["index"] for o in imported["items"] if o["label"].startswith("高血圧症"))
        assert (await decide(stack, nurse, subject_id, imported["id"], other)).status_code == 200
        third = (await get(stack, nurse, f"/subjects/{subject_id}/summary")).json()
        assert third["version"] == 3
        assert [p["name"] for p in third["content"]["problems"]] == ["誤嚥性 肺炎", "高血圧症"]
        assert third["content"]["allergies"] == first["content"]["allergies"]

        declined = await decide(stack, nurse, subject_id, imported["id"], by_kind["medication"], "decline")
        assert declined.status_code == 200 and declined.json()["status"] == "declined"
        assert_problem(
            await decide(stack, doctor, subject_id, imported["id"], by_kind["medication"]),
            409,
            "offer-decided",
        )
        assert (await get(stack, nurse, f"/subjects/{subject_id}/medications")).json()["items"] == []
        shown = (await get(stack, doctor, f"/subjects/{subject_id}/imports/{imported['id']}")).json()
        decided = {o["index"]: o for o in shown["items"]}
        assert decided[by_kind["allergy"]]["decided_by"]["id"] == str(doctor.user_id)
        assert decided[by_kind["medication"]]["status"] == "declined"
        assert decided[by_kind["medication"]]["decided_by"]["id"] == str(nurse.user_id)
        assert_problem(await decide(stack, nurse, subject_id, imported["id"], 99), 404, "not-found")

    async def test_rec5_an_outsider_learns_nothing(self, stack: Stack) -> None:
        nurse, outsider = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        imported = (await upload(stack, nurse, subject_id, letter())).json()
        base = f"/subjects/{subject_id}/imports"
        assert_problem(await upload(stack, outsider, subject_id, letter()), 404, "not-found")
        assert_problem(await upload(stack, outsider, subject_id, {"broken": True}), 404, "not-found")
        assert_problem(await get(stack, outsider, base), 404, "not-found")
        assert_problem(await get(stack, outsider, f"{base}/{imported['id']}"), 404, "not-found")
        assert_problem(await decide(stack, outsider, subject_id, imported["id"], 0), 404, "not-found")
        # Another subject's letter is not reached through a subject the caller is on the team of.
        other_subject = await subject_with_team(stack, outsider)
        assert_problem(
            await get(stack, outsider, f"/subjects/{other_subject}/imports/{imported['id']}"),
            404,
            "not-found",
        )
        assert_problem(await decide(stack, outsider, other_subject, imported["id"], 0), 404, "not-found")
        assert (await get(stack, nurse, f"{base}/{imported['id']}")).json()["offers"]["offered"] == 6


class TestDemo:
    async def test_rec5_the_demo_letter_is_imported_once_for_its_patient(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        ids = []
        for _ in range(2):  # seeding twice finds the letter already there
            async with stack["timeline"].sessionmaker() as session, session.begin():
                ids.append(
                    await import_demo_letter(
                        session,
                        tenant=nurse.tenant,
                        subject_id=subject_id,
                        uploader_id=nurse.user_id,
                        signer=stack["timeline"].app.state.signer,
                    )
                )
        assert ids[0] == ids[1]
        listed = (await get(stack, nurse, f"/subjects/{subject_id}/imports")).json()["items"]
        assert [(i["id"], i["offers"]["offered"]) for i in listed] == [(str(ids[0]), 6)]


class TestWithdrawal:
    async def test_rec6_imports_are_refused_after_withdrawal(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        imported = (await upload(stack, nurse, subject_id, letter())).json()
        await refuse_withdrawn(stack, subject_id)
        base = f"/subjects/{subject_id}/imports"
        other = letter()
        other["identifier"]["value"] = "another letter"
        assert_problem(await upload(stack, nurse, subject_id, other), 410, "support-stopped")
        assert_problem(await get(stack, nurse, base), 410, "support-stopped")
        assert_problem(await get(stack, nurse, f"{base}/{imported['id']}"), 410, "support-stopped")
        assert_problem(await decide(stack, nurse, subject_id, imported["id"], 0), 410, "support-stopped")
        assert_problem(
            await decide(stack, nurse, subject_id, imported["id"], 1, "decline"), 410, "support-stopped"
        )
