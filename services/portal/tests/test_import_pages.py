"""Hospital letters in the staff UI (issue 16 rec5): a JP-CLINS discharge summary uploaded through the page, read
section by section, one medication taken onto the list with 「取り込む」 and shown as taken by whom; a broken file
shows the validator's reason and imports nothing."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest
from portal.clients.consent import Subject
from portal.staff.imports import letter_patient, same_patient

from services.portal.tests.test_staff_pages import location, register_subject, timeline_knows
from tests.browser.staff_ui import CSRF, Browser, Network, make_network, sign_in
from tests.support.stack import Stack, eventually

FIXTURE = (
    Path(__file__).parents[2] / "timeline" / "tests" / "fixtures" / "jp_clins_discharge_summary.json"
).read_bytes()
UUID_TEXT = re.compile(r">[^<]*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[^<]*<")


def deeply_nested(depth: int = 100_000) -> bytes:
    return b'{"resourceType": "Bundle", "entry": ' + b"[" * depth + b"]" * depth + b"}"


def with_patient(**fields: object) -> bytes:
    """The fixture letter with its Patient's fields replaced (a wrong type among them)."""
    letter = json.loads(FIXTURE)
    for entry in letter["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"].update(fields)
    return json.dumps(letter, ensure_ascii=False).encode()


ODD_BODIES = {
    "deep": deeply_nested(),
    "given": with_patient(name=[{"family": "結", "given": [1]}]),
    "text": with_patient(name=[{"text": 5, "family": "結", "given": ["花子"]}]),
    "name": with_patient(name=3),
}


def kana_subject(**fields: object) -> Subject:
    values: dict[str, object] = {
        "id": uuid4(),
        "name": "結 花子",
        "name_kana": "ユイ ハナコ",
        "birth_date": date(1940, 4, 1),
    }
    return Subject.model_validate(values | fields)


class TestReadingTheLettersPatient:
    @pytest.mark.parametrize("body", list(ODD_BODIES))
    def test_rec5_any_shape_of_file_is_read_without_failing(self, body: str) -> None:
        found = letter_patient(ODD_BODIES[body])
        if body == "deep":
            assert found is None  # left to timeline's validator
        elif body == "given":
            assert found == (["結"], "1940-04-01")
        elif body == "text":
            assert found == (["結 花子"], "1940-04-01")
        else:
            assert found == ([], "1940-04-01")
        for odd in (b"[]", b'"x"', b'{"entry": 3}', b'{"entry": [1, {"resource": 2}]}', b"\xff\xfe"):
            assert letter_patient(odd) is None

    def test_rec5_the_patient_is_the_one_the_composition_names(self) -> None:
        letter = json.loads(FIXTURE)
        someone = {
            "fullUrl": "urn:uuid:0a5d0e1c-6b1f-4c5e-9a7e-0000000000ff",
            "resource": {"resourceType": "Patient", "id": "ff", "name": [{"text": "別人 次郎"}]},
        }
        letter["entry"].insert(1, someone)  # the first Patient entry, but not the letter's subject
        names, birth = letter_patient(json.dumps(letter, ensure_ascii=False).encode()) or ([], None)
        assert names == ["結 花子", "ユイ ハナコ"] and birth == "1940-04-01"
        # Named the other way (Patient/{id}), and with no Composition subject: the first Patient.
        composition = letter["entry"][0]["resource"]
        composition["subject"] = {"reference": "Patient/ff"}
        assert letter_patient(json.dumps(letter).encode()) == (["別人 次郎"], None)
        del composition["subject"]
        assert letter_patient(json.dumps(letter).encode()) == (["別人 次郎"], None)

    def test_rec5_kana_in_hiragana_or_half_width_is_the_same_name(self) -> None:
        subject = kana_subject()
        for written in ("ゆい　はなこ", "ﾕｲ ﾊﾅｺ", "ユイハナコ", "結花子"):
            assert same_patient(subject, [written], "1940-04-01"), written
        assert not same_patient(subject, ["ゆい たろう"], "1940-04-01")
        assert not same_patient(subject, ["ゆい はなこ"], "1931-02-03")


@pytest.fixture
async def network(stack: Stack) -> Network:
    return await make_network(stack)


async def patient(stack: Stack, network: Network) -> tuple[Browser, str]:
    doctor = await sign_in(stack, network.doctor)
    subject_id = await register_subject(doctor, form=None)
    await timeline_knows(stack, subject_id, network.doctor.user_id)
    return doctor, subject_id


async def upload(browser: Browser, subject_id: str, content: bytes, filename: str = "letter.json") -> object:
    opened = await browser.get(f"/staff/subjects/{subject_id}/imports")
    assert opened.status_code == 200, opened.text[:500]
    token = CSRF.search(opened.text)
    assert token
    return await browser.post(
        f"/staff/subjects/{subject_id}/imports",
        data={"csrf": token.group(1)},
        files={"bundle": (filename, content, "application/json")},
    )


class TestHospitalLetterPages:
    async def test_rec5_a_letter_uploaded_through_the_page_is_read_and_a_medication_taken_in(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        subject_page = await doctor.get(f"/staff/subjects/{subject_id}")
        assert f'href="/staff/subjects/{subject_id}/imports"' in subject_page.text
        assert "病院からの文書" in subject_page.text

        answer = await upload(doctor, subject_id, FIXTURE)
        assert answer.status_code == 303, answer.text[:800]  # type: ignore[attr-defined]
        letter_path = location(answer).split("#")[0]
        assert "done=letter_imported" in letter_path
        letter = await doctor.get(letter_path)
        assert letter.status_code == 200, letter.text[:800]
        for words in (
            "退院時サマリー（誤嚥性肺炎）",
            "結総合病院",
            "三好 健太",
            "入院中経過",
            "とろみ付きの全粥・軟菜食とした。",
            "アムロジピン錠5mg「サワイ」 1回1錠 1日1回朝食後",
            "ペニシリン系抗菌薬（全身性の発疹）",
        ):
            assert words in letter.text, words
        assert "alert(" not in letter.text  # the letter's script is not text, let alone markup
        assert len(re.findall(r">取り込む</button>", letter.text)) == 6
        assert not UUID_TEXT.search(letter.text), UUID_TEXT.search(letter.text)

        token = CSRF.search(letter.text)
        assert token
        action = re.search(r'action="([^"]+/offers/0/accept)"', letter.text)
        assert action, letter.text[:2000]
        taken = await doctor.post(action.group(1), data={"csrf": token.group(1)})
        assert taken.status_code == 303, taken.text[:800]
        assert "done=offer_accepted" in location(taken) and location(taken).endswith("#offer-0")

        async def shown_as_taken_by_name() -> bool:
            page = await doctor.get(letter_path.split("?")[0])
            offer = page.text.split('id="offer-0"', 1)[1].split("</li>", 1)[0]
            return "取り込み済み" in offer and network.doctor.name in offer and "<button" not in offer

        await eventually(shown_as_taken_by_name, what="the offer shown as taken in, by the doctor's name")
        medications = await doctor.get(f"/staff/subjects/{subject_id}/medications")
        assert medications.text.count("アムロジピン錠5mg「サワイ」") == 1

        # Taken in once: the same button again says so, and the list is unchanged.
        again = await doctor.post(action.group(1), data={"csrf": token.group(1)})
        assert "done=offer_decided" in location(again)
        listing = await doctor.get(f"/staff/subjects/{subject_id}/imports")
        assert "退院時サマリー（誤嚥性肺炎）" in listing.text and "取り込み済み 1 件" in listing.text

    async def test_rec5_an_invalid_file_shows_the_validators_reason(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        broken = json.loads(FIXTURE)
        del broken["entry"][0]["resource"]["status"]
        refused = await upload(doctor, subject_id, json.dumps(broken, ensure_ascii=False).encode())
        assert refused.status_code == 422  # type: ignore[attr-defined]
        text = refused.text  # type: ignore[attr-defined]
        assert "この文書は取り込めませんでした。" in text
        assert "理由: entry.0.resource.status:" in text
        assert "まだ文書はありません。" in text

        not_json = await upload(doctor, subject_id, b"%PDF-1.4 not a bundle", filename="letter.pdf")
        assert not_json.status_code == 422 and "理由: Not JSON" in not_json.text  # type: ignore[attr-defined]

    async def test_rec5_odd_files_are_refused_never_a_server_error(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        for body, content in ODD_BODIES.items():
            answer = await upload(doctor, subject_id, content)
            status = answer.status_code  # type: ignore[attr-defined]
            assert status == 422, (body, status, answer.text[:500])  # type: ignore[attr-defined]
            assert "この文書は取り込めませんでした。" in answer.text or "別の方あて" in answer.text  # type: ignore[attr-defined]
        listing = await doctor.get(f"/staff/subjects/{subject_id}/imports")
        assert "まだ文書はありません。" in listing.text

    async def test_rec5_a_letter_made_out_to_someone_else_is_taken_only_once_the_uploader_confirms(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)  # 結 花子, born 1940-04-01
        other = json.loads(FIXTURE)
        for entry in other["entry"]:
            if entry["resource"]["resourceType"] == "Patient":
                entry["resource"]["birthDate"] = "1931-02-03"
        content = json.dumps(other, ensure_ascii=False).encode()
        refused = await upload(doctor, subject_id, content)
        assert refused.status_code == 422  # type: ignore[attr-defined]
        text = refused.text  # type: ignore[attr-defined]
        assert "別の方あての可能性があります" in text and "1931年2月3日生" in text
        assert "まだ文書はありません。" in text and 'name="other_patient"' in text

        opened = await doctor.get(f"/staff/subjects/{subject_id}/imports")
        token = CSRF.search(opened.text)
        assert token
        confirmed = await doctor.post(
            f"/staff/subjects/{subject_id}/imports",
            data={"csrf": token.group(1), "other_patient": "yes"},
            files={"bundle": ("letter.json", content, "application/json")},
        )
        assert confirmed.status_code == 303, confirmed.text[:800]
