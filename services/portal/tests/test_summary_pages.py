"""A patient's summary in the staff UI (issue 16 rec1): the form read on its own, the emergency sheet PDF drawn on
its own, and the pages through the portal against the real timeline (save, edit, versions signed, the sheet, a
stale version, refusals)."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from portal.clients.base import ServiceProblem
from portal.clients.consent import Subject
from portal.clients.timeline import Summary
from portal.staff.emergency_sheet import (
    BODY_SIZE,
    MARGIN,
    PAGE_WIDTH,
    VALUE_WIDTH,
    Sheet,
    draw_sheet,
    drawable,
    undrawable,
    width_of,
    wrap,
)
from portal.staff.summary import FormError, form_rows, read_form, refused_errors
from pypdf import PdfReader
from reportlab.pdfgen.canvas import Canvas
from yui_common.web import DISPLAY_TIMEZONE

from services.portal.tests.test_staff_pages import location, register_subject, timeline_knows
from tests.browser.staff_ui import CSRF, Browser, Network, make_network, sign_in
from tests.support.stack import Stack, eventually

EXPECTED_VERSION = re.compile(r'name="expected_version" value="(\d+)"')
PRINTED = datetime(2026, 11, 10, 10, 0, tzinfo=DISPLAY_TIMEZONE)
AUTHOR = {
    "id": str(uuid4()),
    "name": "佐藤 花子",
    "profession": "nurse",
    "facility_name": "結訪問看護ステーション",
}


def pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def subject(**fields: object) -> Subject:
    values: dict[str, object] = {
        "id": uuid4(),
        "name": "結 花子",
        "name_kana": "ユイ ハナコ",
        "birth_date": date(1940, 4, 1),
        "sex": "female",
        "address": "結市中央一丁目2番3号",
        "phone": "0561-00-1234",
    }
    return Subject.model_validate(values | fields)


def summary(content: dict[str, object] | None, version: int = 1) -> Summary:
    return Summary.model_validate(
        {
            "subject_id": str(uuid4()),
            "version": version,
            "content": content,
            "author": AUTHOR if version else None,
            "created_at": "2026-11-10T00:30:00Z" if version else None,
            "acp_recorded_by": AUTHOR if content and content.get("acp") else None,
            "acp_recorded_at": "2026-11-09T01:00:00Z" if content and content.get("acp") else None,
        }
    )


FULL = {
    "family_doctor": {"name": "山田 太郎", "facility": "結クリニック", "phone": "0561-00-1111"},
    "visiting_nurse_station": {"name": "結訪問看護ステーション", "phone": "0561-00-2222"},
    "emergency_contacts": [{"name": "結 一郎", "relation": "長男", "phone": "090-1111-2222"}],
    "problems": [{"name": "慢性心不全", "since": "2019年", "note": "利尿薬で調整中"}],
    "allergies": [{"substance": "ペニシリン", "reaction": "発疹"}],
    "care_level": "care_2",
    "adl": "室内は杖で歩行",
    "acp": {"wishes": "自宅で最期を迎えたい", "dnar": "yes"},
    "living_situation": "長男夫婦と同居",
}


class TestReadingTheForm:
    def test_rec1_blank_rows_are_dropped_and_what_was_typed_becomes_content(self) -> None:
        draft = read_form(
            {
                "expected_version": "3",
                "family_doctor-name": " 山田 太郎 ",
                "family_doctor-phone": "０５６１－００－１１１１",
                "emergency_contacts-0-name": "結 一郎",
                "emergency_contacts-0-relation": "長男",
                "emergency_contacts-1-name": "",
                "emergency_contacts-1-phone": "",
                "emergency_contacts-2-name": "結 二郎",
                "allergies-0-substance": "",
                "allergies-1-substance": "卵",
                "care_level": "care_3",
                "adl": "杖で歩行\r\n入浴は介助",
                "acp-dnar": "undecided",
            }
        )
        assert draft.errors == [] and draft.expected_version == 3
        content = draft.content
        assert content.family_doctor is not None
        assert content.family_doctor.name == "山田 太郎" and content.family_doctor.phone == "0561-00-1111"
        assert content.visiting_nurse_station is None
        assert [c.name for c in content.emergency_contacts] == ["結 一郎", "結 二郎"]
        assert [a.substance for a in content.allergies] == ["卵"]
        assert content.care_level == "care_3" and content.adl == "杖で歩行\n入浴は介助"
        assert content.acp is not None and content.acp.dnar == "undecided" and content.acp.wishes == ""
        sent = content.model_dump(mode="json")
        assert sent["emergency_contacts"][0] == {"name": "結 一郎", "relation": "長男", "phone": ""}
        assert sent["no_known_allergies"] is False and sent["living_situation"] == ""

    def test_rec1_text_without_its_name_is_named_not_dropped(self) -> None:
        draft = read_form(
            {
                "expected_version": "0",
                "visiting_nurse_station-phone": "0561-00-2222",
                "problems-0-name": "心不全",
                "problems-4-name": "",
                "problems-4-note": "経過観察",
                "allergies-0-substance": "卵",
                "no_known_allergies": "true",
            }
        )
        assert draft.errors == [
            FormError("blank_part", "visiting_nurse_station", field="name"),
            FormError("blank_row", "problems", row=2, field="name"),
            FormError("allergies_both"),
        ]
        # The row is kept, to be shown again as typed, second of the problems.
        assert [p.note for p in draft.content.problems] == ["", "経過観察"]
        messages = [e.message("ja") for e in draft.errors]
        assert messages[0] == "「訪問看護ステーション」: 事業所名を入れてください。"
        assert messages[1] == "「病名・既往歴」の2行目: 病名を入れてください。"
        assert "アレルギーなし" in messages[2]
        assert draft.errors[1].message("en") == "Conditions and history, row 2: please fill in the Condition."

    def test_rec1_unknown_choices_too_many_rows_and_no_version_are_refused(self) -> None:
        form = {f"emergency_contacts-{n}-name": f"連絡先{n}" for n in range(6)}
        draft = read_form({**form, "care_level": "要介護2", "acp-dnar": "maybe"})
        assert draft.expected_version is None
        assert [e.key for e in draft.errors] == ["too_many", "choice", "choice", "version"]
        assert draft.errors[0].message("ja") == "「緊急連絡先」は5件までです。"

    def test_rec1_timelines_422_names_the_part_and_row(self) -> None:
        refusal = ServiceProblem(
            422,
            "urn:yui:problem:validation-error",
            extensions={
                "errors": [
                    {"location": ["body", "content", "problems", "2", "note"], "message": "too long"},
                    {"location": ["body", "content", "adl"], "message": "too long"},
                    {"location": ["body", "content"], "message": "allergies both ways"},
                ]
            },
        )
        errors = refused_errors(refusal)
        assert errors == [
            FormError("refused_row", "problems", row=3),
            FormError("refused_part", "adl"),
            FormError("refused"),
        ]
        assert errors[0].message("ja") == "「病名・既往歴」の3行目の入力を確かめてください（文字数など）。"
        assert refused_errors(ServiceProblem(422)) == [FormError("refused")]

    def test_rec1_each_list_shows_two_blank_rows_up_to_its_limit(self) -> None:
        draft = read_form(
            {"expected_version": "1", **{f"emergency_contacts-{n}-name": f"連絡先{n}" for n in range(4)}}
        )
        rows = form_rows(draft.content)
        assert len(rows["emergency_contacts"]) == 5  # four written, one blank: five at most
        assert [r.name for r in rows["emergency_contacts"]][-1] == ""
        assert len(rows["problems"]) == 2 and len(rows["allergies"]) == 2


class TestEmergencySheet:
    def test_rec1_the_sheet_holds_the_patient_and_every_section_on_one_page(self) -> None:
        pages, text = pdf_text(
            draw_sheet(Sheet(subject(), summary(FULL, version=2), "結ネット (デモ)", PRINTED))
        )
        assert pages == 1
        for expected in (
            "救急医療情報シート",
            "結 花子（ユイ ハナコ）",
            "1940年4月1日生（86歳）",
            "性別 女性",
            "結市中央一丁目2番3号",
            "電話 0561-00-1234",
            "ペニシリン（発疹）",
            "山田 太郎（結クリニック）　電話 0561-00-1111",
            "結訪問看護ステーション　電話 0561-00-2222",
            "結 一郎（長男）　電話 090-1111-2222",
            "慢性心不全（2019年）　利尿薬で調整中",
            "要介護2",
            "室内は杖で歩行",
            "心肺蘇生: DNAR（心肺蘇生を望まない）",
            "希望: 自宅で最期を迎えたい",
            "記録: 佐藤 花子（看護師、結訪問看護ステーション）　2026-11-09 10:00",
            "長男夫婦と同居",
            "基本情報 第2版（2026-11-10 09:30 保存",  # 00:30 UTC, in Japan's time
            "印刷 2026-11-10 10:00",
            "結ネット (デモ)の共有情報（参照用の写し）",
        ):
            assert expected in text, expected

    def test_rec1_no_allergies_and_nothing_written_say_so(self) -> None:
        _, none_known = pdf_text(
            draw_sheet(Sheet(subject(), summary({"no_known_allergies": True}), None, PRINTED))
        )
        assert "アレルギーなし" in none_known and "結ネットの共有情報（参照用の写し）" in none_known
        _, empty = pdf_text(
            draw_sheet(Sheet(subject(address=None, phone=None), summary(None, 0), None, PRINTED))
        )
        assert "未記入" in empty and "基本情報はまだ記入されていません" in empty
        assert "アレルギーなし" not in empty and "住所・電話" not in empty

    def test_rec1_long_text_is_cut_to_keep_one_page_and_the_allergies_are_cut_last(self) -> None:
        long = {
            **FULL,
            "adl": "歩行は杖で室内のみ。" * 100,
            "living_situation": "長男夫婦と同居。" * 120,
            "problems": [{"name": f"病名{n}", "note": "経過観察中。" * 60} for n in range(30)],
            "allergies": [{"substance": f"薬剤{n}", "reaction": "発疹"} for n in range(12)],
            "acp": {"wishes": "自宅で過ごしたい。" * 200, "dnar": "no"},
        }
        pages, text = pdf_text(draw_sheet(Sheet(subject(), summary(long), None, PRINTED)))
        assert pages == 1
        assert "…（続きは画面で）" in text
        assert all(f"薬剤{n}（発疹）" in text for n in range(12))  # every allergy, though all else was cut
        assert "心肺蘇生: 心肺蘇生を望む" in text and "結 一郎（長男）" in text

    def test_rec1_lines_break_between_latin_words_and_not_before_closing_marks(self) -> None:
        lines = wrap("Penicillin allergy with urticaria", 10.5, 90)
        assert all(not line.startswith(" ") for line in lines)
        assert "".join(lines).replace(" ", "") == "Penicillinallergywithurticaria"
        assert all(word in " ".join(lines).split() for word in ("Penicillin", "allergy", "urticaria"))
        assert not any(line.startswith("。") for line in wrap("あ" * 9 + "。", 10, 90))

    @pytest.mark.parametrize("run", ["ー" * 300, "。" * 120, "長" + "…" * 200 + "）" * 50])
    def test_rec1_a_run_of_closing_marks_still_breaks_and_stays_on_the_page(
        self, run: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        lines = wrap(run, BODY_SIZE, VALUE_WIDTH)
        assert "".join(lines) == run and len(lines) > 3  # nothing dropped, broken into lines
        for line in lines:  # at most one mark hangs past the width
            assert width_of(line[:-1], BODY_SIZE) <= VALUE_WIDTH, (len(line), width_of(line, BODY_SIZE))
        drawn: list[tuple[float, str, float]] = []
        draw_string = Canvas.drawString

        def recorded(canvas: Canvas, x: float, y: float, text: str, *args: object, **kwargs: object) -> None:
            drawn.append((x, text, canvas._fontsize))
            draw_string(canvas, x, y, text, *args, **kwargs)

        monkeypatch.setattr(Canvas, "drawString", recorded)
        pages, text = pdf_text(draw_sheet(Sheet(subject(), summary({**FULL, "adl": run}), None, PRINTED)))
        assert pages == 1 and run[:20] in text
        for x, line, size in drawn:  # within the page: the table's edge, or one hanging mark past it
            assert x + width_of(line, size) <= PAGE_WIDTH - MARGIN + size, (line[:10], len(line))

    def test_rec1_a_character_the_font_cannot_draw_is_printed_as_geta(self) -> None:
        assert undrawable("𠮷田 花子") == ["𠮷"] and drawable("𠮷田 花子") == "〓田 花子"
        pages, text = pdf_text(
            draw_sheet(
                Sheet(subject(name="𠮷田 花子"), summary({**FULL, "adl": "𠮷野家の牛丼"}), None, PRINTED)
            )
        )
        assert pages == 1 and "〓田 花子" in text and "〓野家の牛丼" in text and "𠮷" not in text


# --- through the portal, against the real timeline ----------------------------------------------------------


@pytest.fixture
async def network(stack: Stack) -> Network:
    return await make_network(stack)


async def patient(stack: Stack, network: Network) -> tuple[Browser, str]:
    doctor = await sign_in(stack, network.doctor)
    subject_id = await register_subject(doctor, form=None)
    await timeline_knows(stack, subject_id, network.doctor.user_id)
    return doctor, subject_id


FORM = {
    "family_doctor-name": "山田 太郎",
    "family_doctor-facility": "結クリニック",
    "family_doctor-phone": "0561-00-1111",
    "visiting_nurse_station-name": "結訪問看護ステーション",
    "emergency_contacts-0-name": "結 一郎",
    "emergency_contacts-0-relation": "長男",
    "emergency_contacts-0-phone": "090-1111-2222",
    "emergency_contacts-1-name": "",
    "problems-0-name": "慢性心不全",
    "problems-0-since": "2019年",
    "allergies-0-substance": "ペニシリン",
    "allergies-0-reaction": "発疹",
    "allergies-1-substance": "",
    "care_level": "care_2",
    "adl": "室内は杖で歩行",
    "acp-wishes": "自宅で最期を迎えたい",
    "acp-dnar": "yes",
    "living_situation": "長男夫婦と同居",
}


async def save(browser: Browser, subject_id: str, data: dict[str, str], version: int | None = None) -> object:
    """The form sent as the page gives it: its CSRF token, and the version it shows unless told another."""
    opened = await browser.get(f"/staff/subjects/{subject_id}/summary")
    assert opened.status_code == 200, opened.text[:500]
    token, shown = CSRF.search(opened.text), EXPECTED_VERSION.search(opened.text)
    assert token and shown, opened.text[:800]
    sent = {"csrf": token.group(1), "expected_version": str(shown.group(1) if version is None else version)}
    return await browser.post(f"/staff/subjects/{subject_id}/summary", data={**sent, **data})


class TestSummaryPages:
    async def test_rec1_a_summary_saved_through_the_form_then_edited_lists_two_signed_versions(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        subject_page = await doctor.get(f"/staff/subjects/{subject_id}")
        assert f'href="/staff/subjects/{subject_id}/summary"' in subject_page.text
        timeline = await doctor.get(f"/staff/subjects/{subject_id}/timeline")
        assert f'href="/staff/subjects/{subject_id}/summary"' in timeline.text
        assert f'href="/staff/subjects/{subject_id}/vitals"' in timeline.text

        empty = await doctor.get(f"/staff/subjects/{subject_id}/summary")
        assert empty.status_code == 200 and "結 花子" in empty.text
        assert "まだ記入されていません" in empty.text and 'name="expected_version" value="0"' in empty.text
        assert '<option value="care_2">要介護2</option>' in empty.text
        assert 'type="radio" name="acp-dnar" value="yes"' in empty.text
        assert "emergency_contacts-1-name" in empty.text and "emergency_contacts-2-name" not in empty.text

        saved = await save(doctor, subject_id, FORM)
        assert saved.status_code == 303, saved.text[:800]  # type: ignore[attr-defined]
        assert "done=summary_saved" in location(saved)
        first = await doctor.get(location(saved))
        assert "基本情報・緊急時情報を保存しました" in first.text
        assert "第1版" in first.text and "山田 太郎（" in first.text  # saved by, with profession and facility
        assert "ペニシリン" in first.text and "要介護2" in first.text
        assert "DNAR（心肺蘇生を望まない）" in first.text and "自宅で最期を迎えたい" in first.text
        assert 'value="山田 太郎"' in first.text  # the form starts from what is saved
        assert "emergency_contacts-2-name" in first.text  # the written row and two blank ones

        edited = await save(doctor, subject_id, {**FORM, "family_doctor-name": "鈴木 一郎"})
        assert edited.status_code == 303, edited.text[:800]  # type: ignore[attr-defined]
        second = await doctor.get(f"/staff/subjects/{subject_id}/summary")
        assert "第2版" in second.text and 'name="expected_version" value="2"' in second.text
        versions = re.findall(r'<li class="summary-version" data-version="(\d+)">', second.text)
        assert versions == ["2", "1"]
        assert second.text.count('<span class="signature valid">✓') == 2
        assert "signature invalid" not in second.text
        history = second.text.split('id="versions-h"')[1]
        assert "鈴木 一郎" in history and "山田 太郎" in history  # each version says what it said
        # The ACP was not changed by the edit: it stays recorded by its first version's author and time.
        assert "記録: 山田 太郎（" in second.text

    async def test_rec1_the_emergency_sheet_holds_the_current_summary(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        assert (await save(doctor, subject_id, FORM)).status_code == 303  # type: ignore[attr-defined]
        edited = {**FORM, "family_doctor-name": "鈴木 一郎", "allergies-1-substance": "卵"}
        assert (await save(doctor, subject_id, edited)).status_code == 303  # type: ignore[attr-defined]
        page = await doctor.get(f"/staff/subjects/{subject_id}/summary")
        assert f'href="/staff/subjects/{subject_id}/summary/emergency-sheet.pdf"' in page.text
        assert "救急医療情報シート（PDF）" in page.text

        sheet = await doctor.get(f"/staff/subjects/{subject_id}/summary/emergency-sheet.pdf")
        assert sheet.status_code == 200
        assert sheet.headers["content-type"] == "application/pdf"
        assert sheet.headers["content-disposition"] == 'inline; filename="emergency-sheet.pdf"'
        assert sheet.headers["cache-control"] == "no-store"
        pages, text = pdf_text(sheet.content)
        assert pages == 1
        assert "結 花子" in text and "1940年4月1日生" in text
        assert "鈴木 一郎（結クリニック）" in text and "山田 太郎（結クリニック）" not in text
        assert "ペニシリン（発疹）" in text and "卵" in text
        assert "心肺蘇生: DNAR（心肺蘇生を望まない）" in text and "希望: 自宅で最期を迎えたい" in text
        assert "基本情報 第2版" in text and "記録: 山田 太郎（" in text
        assert "の共有情報（参照用の写し）" in text

        # A kanji past the BMP (𠮷) has no glyph in the sheet's font: printed as 〓, and the page says so.
        assert "sheet-replaced" not in page.text
        geta = {**edited, "adl": "𠮷野家まで杖で歩く"}
        assert (await save(doctor, subject_id, geta)).status_code == 303  # type: ignore[attr-defined]
        page = await doctor.get(f"/staff/subjects/{subject_id}/summary")
        assert "シート（PDF）にはない文字（𠮷）は、シートでは「〓」になります。" in page.text
        english = await doctor.get(f"/staff/subjects/{subject_id}/summary?lang=en")
        assert "The sheet’s font has no glyph for 𠮷" in english.text
        await doctor.get(f"/staff/subjects/{subject_id}/summary?lang=ja")
        sheet = await doctor.get(f"/staff/subjects/{subject_id}/summary/emergency-sheet.pdf")
        assert "〓野家まで杖で歩く" in pdf_text(sheet.content)[1]

    async def test_rec1_a_stale_version_is_refused_with_the_newer_shown_and_the_typed_text_kept(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        assert (await save(doctor, subject_id, FORM)).status_code == 303  # type: ignore[attr-defined]
        typed = {**FORM, "adl": "入浴は週2回の訪問入浴で", "family_doctor-name": "高橋 次郎"}
        stale = await save(doctor, subject_id, typed, version=0)
        assert stale.status_code == 409  # type: ignore[attr-defined]
        text = stale.text  # type: ignore[attr-defined]
        assert "他の方が先に更新しました（第1版）" in text
        assert "入浴は週2回の訪問入浴で</textarea>" in text and 'value="高橋 次郎"' in text
        assert 'name="expected_version" value="1"' in text  # the next save goes over the newer version
        assert '<details class="summary-edit" open>' in text
        page = await doctor.get(f"/staff/subjects/{subject_id}/summary")
        assert re.findall(r'data-version="(\d+)"', page.text) == ["1"] and "高橋 次郎" not in page.text

    async def test_rec1_what_cannot_be_saved_is_said_and_nothing_is_written(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        nameless = await save(doctor, subject_id, {**FORM, "emergency_contacts-1-phone": "090-0000-0000"})
        assert nameless.status_code == 422  # type: ignore[attr-defined]
        assert "「緊急連絡先」の2行目: 氏名を入れてください。" in nameless.text  # type: ignore[attr-defined]
        assert 'value="090-0000-0000"' in nameless.text  # type: ignore[attr-defined]
        too_long = await save(doctor, subject_id, {**FORM, "problems-0-since": "昔" * 51})
        assert too_long.status_code == 422  # type: ignore[attr-defined]
        assert "「病名・既往歴」の1行目の入力を確かめてください" in too_long.text  # type: ignore[attr-defined]
        nothing = await save(doctor, subject_id, {})
        assert nothing.status_code == 422 and "何も記入されていません" in nothing.text  # type: ignore[attr-defined]
        page = await doctor.get(f"/staff/subjects/{subject_id}/summary")
        assert "まだ記入されていません" in page.text and "data-version=" not in page.text

    async def test_rec1_outside_the_team_the_page_and_the_sheet_are_refused(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        assert (await save(doctor, subject_id, FORM)).status_code == 303  # type: ignore[attr-defined]
        nurse = await sign_in(stack, network.nurse)
        for path in ("/summary", "/summary/emergency-sheet.pdf"):
            refused = await nurse.get(f"/staff/subjects/{subject_id}{path}")
            assert refused.status_code == 404, path
            assert "結 花子" not in refused.text and "ペニシリン" not in refused.text
            assert refused.headers["content-type"].startswith("text/html")
        unknown = await doctor.get(f"/staff/subjects/{uuid4()}/summary/emergency-sheet.pdf")
        assert unknown.status_code == 404
        opened = await nurse.get("/staff")
        token = CSRF.search(opened.text)
        assert token
        written = await nurse.post(
            f"/staff/subjects/{subject_id}/summary",
            data={"csrf": token.group(1), "expected_version": "1", **FORM, "adl": "外部の書き込み"},
        )
        assert written.status_code == 404
        assert "外部の書き込み" not in (await doctor.get(f"/staff/subjects/{subject_id}/summary")).text

    async def test_rec1_after_withdrawal_the_page_and_the_sheet_say_support_stopped(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        assert (await save(doctor, subject_id, FORM)).status_code == 303  # type: ignore[attr-defined]
        withdrawn = await doctor.form(
            f"/staff/subjects/{subject_id}",
            f"/staff/subjects/{subject_id}/withdrawals",
            {"requested_by": "subject", "confirmed": "true"},
        )
        assert withdrawn.status_code == 303
        sheet = await doctor.get(f"/staff/subjects/{subject_id}/summary/emergency-sheet.pdf")
        assert sheet.status_code == 410 and "支援を停止しました" in sheet.text

        async def stopped() -> bool:
            page = await doctor.get(f"/staff/subjects/{subject_id}/summary")
            return page.status_code in (200, 410) and "支援を停止しました" in page.text

        await eventually(stopped, what="the summary page to say support stopped")
        page = await doctor.get(f"/staff/subjects/{subject_id}/summary")
        assert "summary-form" not in page.text and "emergency-sheet.pdf" not in page.text


def test_rec1_the_sheet_prints_japans_time_whatever_the_servers_zone() -> None:
    printed = datetime(2026, 11, 9, 15, 30, tzinfo=UTC)  # 00:30 on the 10th in Japan
    _, text = pdf_text(draw_sheet(Sheet(subject(), summary(FULL), None, printed)))
    assert "印刷 2026-11-10 00:30" in text
