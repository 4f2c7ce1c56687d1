"""Standard documents from templates (issue 16 rec4): each template drafted and drawn on its own, and the pages
through the portal against the real timeline (a report drafted from the summary lands signed on the timeline;
a blank required box posts nothing; outside the care team, nothing is shown)."""

from __future__ import annotations

import html
import io
import re
from dataclasses import replace
from datetime import date, datetime
from uuid import uuid4

import pytest
from portal.clients.consent import Subject
from portal.clients.timeline import SummaryContent, Vitals
from portal.staff.document_pdf import BODY_SIZES, VALUE_WIDTH, draw_document, pages_needed
from portal.staff.document_templates import TEMPLATES, Known, draft, report_month, vitals_days
from portal.staff.documents import build_document, filename, read_form
from portal.staff.emergency_sheet import width_of, wrap
from pypdf import PdfReader
from timeline.attachments.content_types import clean_filename, extension_agrees
from yui_common.people import PersonRef
from yui_common.web import DISPLAY_TIMEZONE

from services.portal.tests.test_staff_pages import location, register_subject, timeline_knows
from services.portal.tests.test_summary_pages import FORM as SUMMARY_FORM
from services.portal.tests.test_summary_pages import save as save_summary
from tests.browser.staff_ui import CSRF, Browser, Network, make_network, sign_in
from tests.support.stack import Stack

NOW = datetime(2026, 12, 3, 14, 5, tzinfo=DISPLAY_TIMEZONE)
AUTHOR = PersonRef(id=uuid4(), name="佐藤 花子", profession="visiting_nurse", facility_name="結訪問看護")
INPUT = re.compile(r'<input id="doc-\w+" name="(\w+)" type="text" maxlength="\d+" value="([^"]*)"')
TEXTAREA = re.compile(r'<textarea id="doc-\w+" name="(\w+)"[^>]*>(.*?)</textarea>', re.DOTALL)


def pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def known() -> Known:
    subject = Subject.model_validate(
        {"id": uuid4(), "name": "結 花子", "name_kana": "ユイ ハナコ", "birth_date": date(1940, 4, 1)}
    )
    summary = SummaryContent.model_validate(
        {
            "family_doctor": {"name": "山田 太郎", "facility": "結クリニック", "phone": "0561-00-1111"},
            "problems": [{"name": "慢性心不全", "since": "2019年", "note": "利尿薬で調整中"}],
            "care_level": "care_2",
            "adl": "室内は杖で歩行",
        }
    )
    vitals = [
        Vitals.model_validate(
            {
                "post_id": uuid4(),
                "subject_id": subject.id,
                "measured_at": f"2026-{month}-0{day}T01:00:00Z",
                "recorded_at": f"2026-{month}-0{day}T01:00:00Z",
                "author": AUTHOR.model_dump(mode="json"),
                "systolic": systolic,
                "diastolic": 80,
                "pulse": 70 + day,
            }
        )
        # November's two (the report drafted on 3 December covers November), then one of December's.
        for month, day, systolic in ((11, 1, 128), (11, 2, 142), (12, 2, 160))
    ]
    return Known(subject, summary, [], vitals, AUTHOR, NOW)


@pytest.mark.parametrize("key", list(TEMPLATES))
def test_rec4_each_template_drafts_from_the_record_and_draws_a_pdf_timeline_accepts(key: str) -> None:
    template, facts = TEMPLATES[key], known()
    values = draft(template, facts)
    # Boxes Yui cannot fill are typed by the writer: fill every blank one, then draw.
    typed = {name: value or f"{name}の記載" for name, value in values.items()}
    document = build_document(template, facts.subject, typed, AUTHOR, NOW, "結ネット")
    pages, text = pdf_text(draw_document(document))
    assert 1 <= pages <= 2
    assert document.title in text and "結 花子（ユイ ハナコ）" in text and "1940年4月1日生（86歳）" in text
    assert all(section.label.replace("\n", "") in text.replace("\n", "") for section in document.sections)
    assert "佐藤 花子（訪問看護師、結訪問看護）" in text and "2026-12-03 14:05（日本時間）" in text
    assert "結ネットで作成" in text
    name = filename(template, facts.subject, typed, NOW)
    assert clean_filename(name) == name and extension_agrees(name, "application/pdf")
    assert name.endswith("_結.pdf")
    if key == "visiting_nurse_report":
        assert name == "訪問看護報告書_2026-11_結.pdf"
        assert values["report_period"] == "2026年11月1日〜2026年11月30日"
        assert (
            values["addressee"] == "山田 太郎（結クリニック）"
            and values["diagnosis"] == "慢性心不全（2019年）"
        )
        assert values["care_level"] == "要介護2" and values["visit_dates"] == "11月1日、11月2日"
        assert "11月のバイタル（2回）: 血圧 128〜142/80 mmHg、脈拍 71〜72 回/分" in values["progress"]
    if key == "visiting_nurse_instruction":
        assert "慢性心不全: 利尿薬で調整中" in values["condition"]
        assert "主治医 山田 太郎（結クリニック）　電話 0561-00-1111" in values["emergency_contacts"]


@pytest.mark.parametrize(
    ("today", "first", "last", "days"),
    [
        (date(2026, 12, 2), date(2026, 11, 1), date(2026, 11, 30), 33),  # early December: November's report
        (date(2026, 12, 10), date(2026, 11, 1), date(2026, 11, 30), 41),
        (date(2026, 12, 11), date(2026, 12, 1), date(2026, 12, 31), 30),  # from the 11th: this month's
        (date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31), 32),
        (date(2027, 1, 5), date(2026, 12, 1), date(2026, 12, 31), 37),  # across the year
        (date(2028, 3, 1), date(2028, 2, 1), date(2028, 2, 29), 31),  # a leap February
    ],
)
def test_rec4_the_monthly_report_covers_the_previous_month_until_the_10th(
    today: date, first: date, last: date, days: int
) -> None:
    assert report_month(today) == (first, last)
    assert vitals_days(today) == days and (today - first).days < days  # the whole month fetched
    facts = known()
    on_day = datetime(today.year, today.month, today.day, 9, 0, tzinfo=DISPLAY_TIMEZONE)
    values = draft(TEMPLATES["visiting_nurse_report"], replace(facts, now=on_day))
    assert values["report_period"].startswith(f"{first.year}年{first.month}月1日〜")


@pytest.mark.parametrize("run", ["ー" * 300, "。" * 300])
def test_rec4_a_run_of_closing_marks_is_wrapped_and_printed_whole(run: str) -> None:
    template, facts = TEMPLATES["visiting_nurse_report"], known()
    typed = {**draft(template, facts), "progress": run, "nursing": "入浴介助" + run}
    document = build_document(template, facts.subject, typed, AUTHOR, NOW, None)
    assert pages_needed(document) <= 2
    for line in wrap(run, BODY_SIZES[0], VALUE_WIDTH):
        assert width_of(line[:-1], BODY_SIZES[0]) <= VALUE_WIDTH  # at most one mark hangs over
    _, text = pdf_text(draw_document(document))
    assert text.count(run[0]) >= 2 * len(run)  # every one of them on the page


def test_rec4_a_character_the_font_cannot_draw_is_printed_as_geta() -> None:
    template, facts = TEMPLATES["visiting_nurse_report"], known()
    subject = facts.subject.model_copy(update={"name": "𠮷田 花子"})
    typed = {**draft(template, facts), "nursing": "𠮷野家の牛丼を少し"}
    _, text = pdf_text(draw_document(build_document(template, subject, typed, AUTHOR, NOW, None)))
    assert "〓田 花子（ユイ ハナコ）" in text and "〓野家の牛丼を少し" in text and "𠮷" not in text


def test_rec4_blank_required_and_too_long_boxes_are_named() -> None:
    template = TEMPLATES["visiting_nurse_report"]
    values, errors = read_form(
        template, {"report_period": "2026年12月", "visit_dates": " \r\n ", "progress": "経過" * 1001}
    )
    assert [(e.key, e.field) for e in errors] == [
        ("required", "visit_dates"),
        ("too_long", "progress"),
        ("required", "nursing"),
    ]
    assert errors[0].message("ja") == "「訪問日」を入れてください。"
    assert errors[0].message("en") == "Please fill in “Visit dates”."
    assert errors[1].message("ja") == "「病状の経過」は2000文字までです（いま2002文字）。"
    assert values["visit_dates"] == ""


# --- through the portal, against the real timeline ----------------------------------------------------------


@pytest.fixture
async def network(stack: Stack) -> Network:
    return await make_network(stack)


async def patient(stack: Stack, network: Network) -> tuple[Browser, str]:
    doctor = await sign_in(stack, network.doctor)
    subject_id = await register_subject(doctor, form=None)
    await timeline_knows(stack, subject_id, network.doctor.user_id)
    return doctor, subject_id


def form_values(page: str) -> dict[str, str]:
    """The form's boxes as the page fills them."""
    boxes = {name: html.unescape(value) for name, value in INPUT.findall(page)}
    return boxes | {name: html.unescape(value) for name, value in TEXTAREA.findall(page)}


REPORT = "/documents/new?template=visiting_nurse_report"


class TestDocumentPages:
    async def test_rec4_visiting_nurse_report_carries_the_summary_and_lands_signed_on_the_timeline(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        assert (await save_summary(doctor, subject_id, SUMMARY_FORM)).status_code == 303  # type: ignore[attr-defined]
        for page in ("", "/timeline"):
            opened = await doctor.get(f"/staff/subjects/{subject_id}{page}")
            assert (
                f'href="/staff/subjects/{subject_id}/documents"' in opened.text and "書類作成" in opened.text
            )
        choice = await doctor.get(f"/staff/subjects/{subject_id}/documents")
        assert choice.status_code == 200
        for key in TEMPLATES:
            assert f"/documents/new?template={key}" in choice.text
        assert "訪問看護指示書" in choice.text and "サービス担当者会議の要点" in choice.text

        form = await doctor.get(f"/staff/subjects/{subject_id}{REPORT}")
        assert form.status_code == 200
        values = form_values(form.text)
        assert values["addressee"] == "山田 太郎（結クリニック）"
        assert values["diagnosis"] == "慢性心不全（2019年）" and values["care_level"] == "要介護2"
        assert values["home_care"] == "長男夫婦と同居"
        assert subject_id not in form.text.replace(f"/staff/subjects/{subject_id}/", "")  # no UUID shown

        token = CSRF.search(form.text)
        assert token
        typed = {
            **values,
            "visit_dates": "12月1日、12月8日、12月15日",
            "progress": "利尿薬の調整後、下肢のむくみは軽くなった。",
            "nursing": "体重と浮腫の観察、服薬の確認、入浴介助。",
        }
        made = await doctor.post(
            f"/staff/subjects/{subject_id}{REPORT}",
            data={"csrf": token.group(1), "intent": "create", **typed},
        )
        assert made.status_code == 303, made.text[:800]
        assert f"/staff/subjects/{subject_id}/timeline" in location(made)
        timeline_page = await doctor.get(location(made))
        assert "書類を作成し、タイムラインに投稿しました。" in timeline_page.text

        as_doctor = stack.staff(
            tenant=network.tenant,
            facility_id=network.doctor.facility_id,
            user_id=network.doctor.user_id,
            roles=("facility_admin", "staff"),
        )
        api = stack["timeline"].client
        posts = (await api.get(f"/subjects/{subject_id}/posts", headers=as_doctor.headers)).json()["items"]
        [post] = [p for p in posts if (p["body"] or "").startswith("【訪問看護報告書】")]
        assert re.fullmatch(r"【訪問看護報告書】\d{4}年\d{1,2}月分を作成しました（添付）", post["body"])
        assert post["category"] == "visit"
        [attachment] = post["attachments"]
        assert attachment["content_type"] == "application/pdf"
        assert re.fullmatch(r"訪問看護報告書_\d{4}-\d{2}_結\.pdf", attachment["filename"])

        pdf = await doctor.get(f"/staff/attachments/{attachment['id']}/content")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        pages, text = pdf_text(pdf.content)
        assert pages == 1
        for expected in (
            "訪問看護報告書",
            "結 花子",
            "慢性心不全（2019年）",
            "山田 太郎（結クリニック）",
            "要介護2",
            "利尿薬の調整後、下肢のむくみは軽くなった。",
            "山田 太郎（",  # the author, with profession and facility
        ):
            assert expected in text, expected

        verified = (await api.get(f"/posts/{post['id']}/verify", headers=as_doctor.headers)).json()
        assert verified["intact"] is True
        assert verified["attachments"] == [
            {"id": attachment["id"], "signature_valid": True, "stored_object_matches": True}
        ]

    async def test_rec4_a_blank_required_box_shows_the_form_again_and_posts_nothing(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        form = await doctor.get(f"/staff/subjects/{subject_id}{REPORT}")
        token = CSRF.search(form.text)
        assert token
        assert "document-replaced" not in form.text
        values = {**form_values(form.text), "progress": "むくみは軽くなった（𠮷野家）", "nursing": ""}
        refused = await doctor.post(
            f"/staff/subjects/{subject_id}{REPORT}",
            data={"csrf": token.group(1), "intent": "create", **values},
        )
        assert refused.status_code == 422
        assert (
            "「看護の内容」を入れてください。" in refused.text
            and "「訪問日」を入れてください。" in refused.text
        )
        assert "むくみは軽くなった（𠮷野家）</textarea>" in refused.text  # what was typed is kept
        assert "PDFにはない文字（𠮷）は、PDFでは「〓」になります。" in refused.text
        timeline = await doctor.get(f"/staff/subjects/{subject_id}/timeline")
        assert "【訪問看護報告書】" not in timeline.text

    async def test_rec4_outside_the_care_team_nothing_is_shown_or_posted(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        nurse = await sign_in(stack, network.nurse)
        for path in ("/documents", REPORT):
            refused = await nurse.get(f"/staff/subjects/{subject_id}{path}")
            assert refused.status_code == 404, path
            assert "結 花子" not in refused.text
        token = CSRF.search((await nurse.get("/staff")).text)
        assert token
        written = await nurse.post(
            f"/staff/subjects/{subject_id}{REPORT}",
            data={
                "csrf": token.group(1),
                "intent": "create",
                "report_period": "2026年12月",
                "visit_dates": "12月1日",
                "progress": "外部の書き込み",
                "nursing": "外部の書き込み",
            },
        )
        assert written.status_code == 404 and "結 花子" not in written.text
        assert "外部の書き込み" not in (await doctor.get(f"/staff/subjects/{subject_id}/timeline")).text
