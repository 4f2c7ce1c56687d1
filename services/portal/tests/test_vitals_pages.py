"""Vital signs in the staff UI (issue 16 rec3): the post form's 「バイタルを記録」, the vitals page and its charts,
and the chart module on its own."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from portal.clients.base import ServiceProblem
from portal.staff.vitals import entry_error, read_entry, refused_fields
from portal.staff.vitals_chart import MEASURES, cells, chart, charts, window, y_bounds
from yui_common.web import DISPLAY_TIMEZONE, translate

from services.portal.tests.test_staff_pages import location, register_subject, timeline_knows
from tests.browser.staff_ui import CSRF, Browser, Network, make_network, sign_in
from tests.support.stack import Stack, eventually

SVG = "{http://www.w3.org/2000/svg}"
MEASURE = {m.key: m for m in MEASURES}
NOW = datetime(2026, 11, 10, 9, 0, tzinfo=DISPLAY_TIMEZONE)


def words(key: str) -> str:
    return translate("ja", key)


@dataclass
class Entry:
    measured_at: datetime
    systolic: int | None = None
    diastolic: int | None = None
    pulse: int | None = None
    spo2: int | None = None
    temperature: float | None = None
    respiration: int | None = None
    weight: float | None = None
    glucose: int | None = None


def week(**values: object) -> list[Entry]:
    """One entry a day at 08:30 Japan time for the seven days ending with NOW's."""
    first = NOW.replace(hour=8, minute=30) - timedelta(days=6)
    return [Entry(first + timedelta(days=n), **values) for n in range(7)]  # type: ignore[arg-type]


def parsed(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def points(svg: ET.Element, series: str) -> list[ET.Element]:
    group = next(g for g in svg.iter(f"{SVG}g") if g.get("class") == f"series {series}")
    return list(group.iter(f"{SVG}circle"))


class TestChartModule:
    def test_rec3_a_week_of_entries_draws_seven_points_each_with_its_tooltip(self) -> None:
        svg = parsed(chart(MEASURE["pulse"], week(pulse=72), days=7, now=NOW, words=words))
        drawn = points(svg, "pulse")
        assert len(drawn) == 7
        titles = [p.findtext(f"{SVG}title") for p in drawn]
        assert titles[0] == "2026-11-04 08:30 脈拍 72 回/分"
        assert titles[-1] == "2026-11-10 08:30 脈拍 72 回/分"
        xs = [float(p.get("cx", "0")) for p in drawn]
        assert xs == sorted(xs) and len(set(xs)) == 7

    def test_rec3_blood_pressure_is_two_lines_systolic_above_diastolic(self) -> None:
        svg = parsed(
            chart(MEASURE["blood_pressure"], week(systolic=132, diastolic=78), days=7, now=NOW, words=words)
        )
        lines = [g for g in svg.iter(f"{SVG}g") if (g.get("class") or "").startswith("series")]
        assert [g.get("class") for g in lines] == ["series systolic", "series diastolic"]
        assert all(g.find(f"{SVG}polyline") is not None for g in lines)
        high = float(points(svg, "systolic")[0].get("cy", "0"))
        low = float(points(svg, "diastolic")[0].get("cy", "0"))
        assert high < low  # a higher value is drawn higher up
        assert "収縮期" in (points(svg, "systolic")[0].findtext(f"{SVG}title") or "")

    def test_rec3_only_measures_with_values_get_a_chart(self) -> None:
        entries = [*week(pulse=70), Entry(NOW - timedelta(hours=1), temperature=36.8)]
        drawn = charts(entries, days=7, now=NOW, words=words)
        assert [m.key for m, _ in drawn] == ["pulse", "temperature"]
        assert charts([], days=7, now=NOW, words=words) == []

    def test_rec3_days_are_japans_and_the_period_ends_today(self) -> None:
        start, end = window(7, NOW)
        assert start == datetime(2026, 11, 4, tzinfo=DISPLAY_TIMEZONE)
        assert end == datetime(2026, 11, 11, tzinfo=DISPLAY_TIMEZONE)
        # 15:30 UTC on the 3rd is 00:30 on the 4th in Japan: the first day's; 14:30 UTC is the 3rd's, left out.
        inside = Entry(datetime(2026, 11, 3, 15, 30, tzinfo=UTC), pulse=80)
        outside = Entry(datetime(2026, 11, 3, 14, 30, tzinfo=UTC), pulse=90)
        svg = parsed(chart(MEASURE["pulse"], [outside, inside], days=7, now=NOW, words=words))
        (only,) = points(svg, "pulse")
        assert only.findtext(f"{SVG}title") == "2026-11-04 00:30 脈拍 80 回/分"
        labels = [t.text for t in svg.iter(f"{SVG}text") if "x" in (t.get("class") or "").split()]
        assert labels == ["11/4", "11/5", "11/6", "11/7", "11/8", "11/9", "11/10"]

    def test_rec3_a_longer_period_labels_about_seven_days(self) -> None:
        svg = parsed(chart(MEASURE["pulse"], week(pulse=70), days=90, now=NOW, words=words))
        labels = [t for t in svg.iter(f"{SVG}text") if "x" in (t.get("class") or "").split()]
        assert 6 <= len(labels) <= 8

    def test_rec3_the_y_axis_has_fixed_bounds_widened_by_whole_steps(self) -> None:
        assert y_bounds(MEASURE["spo2"], [97, 95]) == (80, 100)
        assert y_bounds(MEASURE["pulse"], [72, 181]) == (40, 200)
        assert y_bounds(MEASURE["pulse"], [30]) == (20, 140)
        assert y_bounds(MEASURE["temperature"], [36.5]) == (35, 40)
        low, high = y_bounds(MEASURE["weight"], [52.3, 53.1])
        assert low <= 47.3 and high >= 58.1 and low % 5 == 0 and high % 5 == 0
        svg = parsed(chart(MEASURE["pulse"], week(pulse=181), days=7, now=NOW, words=words))
        ticks = [t.text for t in svg.iter(f"{SVG}text") if "y" in (t.get("class") or "").split()]
        assert ticks[0] == "40" and ticks[-1] == "200"

    def test_rec3_the_normal_range_is_shaded(self) -> None:
        svg = parsed(chart(MEASURE["spo2"], week(spo2=97), days=7, now=NOW, words=words))
        (band,) = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "normal-band"]
        top, height = float(band.get("y", "0")), float(band.get("height", "0"))
        # 80–100 drawn over the plot's height: 96–100 is its top fifth.
        plot_top, plot_height = 12, 220 - 12 - 30
        assert top == pytest.approx(plot_top, abs=0.1)
        assert height == pytest.approx(plot_height / 5, abs=0.1)
        assert "96–100" in (band.findtext(f"{SVG}title") or "")
        temperature = chart(MEASURE["temperature"], week(temperature=36.6), days=7, now=NOW, words=words)
        assert "36–37.4 ℃" in temperature

    def test_rec3_the_markup_is_escaped_and_needs_no_inline_script_or_style(self) -> None:
        svg = str(chart(MEASURE["pulse"], week(pulse=70), days=7, now=NOW, words=lambda key: "<b>&"))
        assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg
        assert "style=" not in svg and "<script" not in svg and " on" not in svg.lower().replace(" one", "")

    def test_rec3_the_table_shows_each_measure_once(self) -> None:
        entry = Entry(NOW, systolic=132, diastolic=78, temperature=36.5, weight=52.0)
        assert cells(entry) == ["132/78", "", "", "36.5", "", "52.0", ""]


class TestReadingTheForm:
    def test_rec3_only_filled_values_are_sent_and_full_width_digits_are_numbers(self) -> None:
        entry = read_entry(
            {"systolic": "１３２", "diastolic": "78", "temperature": "36.84", "pulse": "", "measured_at": ""}
        )
        assert entry.given and not entry.invalid
        assert entry.values == {"systolic": 132, "diastolic": 78, "temperature": 36.8}

    def test_rec3_the_measured_time_is_japans_wall_clock(self) -> None:
        entry = read_entry({"pulse": "70", "measured_at": "2026-11-03T09:30"})
        assert entry.values["measured_at"] == "2026-11-03T09:30:00+09:00"

    def test_rec3_no_values_means_no_vitals_whatever_the_time_says(self) -> None:
        entry = read_entry({"body": "訪問しました", "measured_at": "2026-11-03T09:30"})
        assert not entry.given and entry.values == {}

    def test_rec3_what_is_not_a_number_is_named(self) -> None:
        entry = read_entry({"pulse": "七十", "spo2": "97.5", "weight": "50.5", "measured_at": "きのう"})
        assert entry.invalid == ["pulse", "spo2", "measured_at"]
        message = entry_error("ja", entry.invalid)
        assert "脈拍（20〜250 回/分）" in message and "SpO₂（50〜100 %）" in message and "測定日時" in message

    def test_rec3_the_forms_ranges_and_note_limit_are_timelines(self) -> None:
        """The form restates timeline's ranges for the tablet's keyboard and the error's words: they must agree."""
        from portal.staff.vitals import NOTE_LIMIT
        from portal.staff.vitals_chart import FIELDS
        from timeline.vitals.schemas import VitalsCreate

        schema = VitalsCreate.model_json_schema()["properties"]
        for spec in FIELDS:
            number = next(option for option in schema[spec.name]["anyOf"] if option.get("type") != "null")
            assert (spec.low, spec.high) == (number["minimum"], number["maximum"]), spec.name
            assert (spec.decimals == 0) == (number["type"] == "integer"), spec.name
        assert schema["note"]["maxLength"] == NOTE_LIMIT

    def test_rec3_a_typed_exponent_is_no_number_and_costs_nothing(self) -> None:
        """1e999999 became a 10,000-digit int (a 500, and a worker held for seconds) until numbers were bounded."""
        entry = read_entry(
            {"pulse": "1e999999", "temperature": "1e9999", "weight": "-1e9", "spo2": "97", "glucose": "1.2e2"}
        )
        assert entry.invalid == ["pulse", "temperature", "weight"] and entry.values == {
            "spo2": 97,
            "glucose": 120,
        }

    def test_rec3_the_time_the_page_filled_in_means_now(self) -> None:
        """A tablet left open on the timeline must not date a later reading to when the page was opened."""
        shown = "2026-11-03T09:30"
        left = read_entry({"pulse": "70", "measured_at": shown, "measured_at_shown": shown})
        assert "measured_at" not in left.values
        changed = read_entry({"pulse": "70", "measured_at": "2026-11-03T08:00", "measured_at_shown": shown})
        assert changed.values["measured_at"].startswith("2026-11-03T08:00")

    def test_rec3_a_time_in_the_future_or_too_old_names_the_time(self) -> None:
        for slug in ("vitals-in-the-future", "vitals-too-old"):
            assert refused_fields(ServiceProblem(422, f"urn:yui:problem:{slug}")) == ["measured_at"]

    def test_rec3_timelines_422_names_its_fields(self) -> None:
        refusal = ServiceProblem(
            422,
            "urn:yui:problem:validation-error",
            extensions={
                "errors": [
                    {"location": ["body", "systolic"], "message": "too high"},
                    {"location": ["body"], "message": "diastolic must be below systolic"},
                ]
            },
        )
        assert refused_fields(refusal) == ["systolic"]
        assert "血圧 上（収縮期）（60〜260 mmHg）" in entry_error("ja", refused_fields(refusal))
        assert "組み合わせ" in entry_error("ja", [])
        assert "Please check" in entry_error("en", ["temperature"])


# --- through the portal, against the real timeline ----------------------------------------------------------


@pytest.fixture
async def network(stack: Stack) -> Network:
    return await make_network(stack)


async def patient(stack: Stack, network: Network) -> tuple[Browser, str]:
    doctor = await sign_in(stack, network.doctor)
    subject_id = await register_subject(doctor, form=None)
    await timeline_knows(stack, subject_id, network.doctor.user_id)
    return doctor, subject_id


async def send_post(browser: Browser, subject_id: str, data: dict[str, str]) -> object:
    opened = await browser.get(f"/staff/subjects/{subject_id}/timeline")
    token = CSRF.search(opened.text)
    assert token, opened.text[:500]
    return await browser.post(f"/staff/subjects/{subject_id}/posts", data={"csrf": token.group(1), **data})


class TestRecordingVitals:
    async def test_rec3_vitals_from_the_post_form_are_recorded_and_charted(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        timeline = await doctor.get(f"/staff/subjects/{subject_id}/timeline")
        assert "バイタルを記録" in timeline.text
        assert re.search(
            r'name="systolic" type="number" inputmode="numeric" min="60" max="260" step="1"', timeline.text
        )
        assert re.search(
            r'name="temperature" type="number" inputmode="decimal" min="32.0" max="43.0"', timeline.text
        )
        assert f'href="/staff/subjects/{subject_id}/vitals"' in timeline.text
        measured = (datetime.now(DISPLAY_TIMEZONE) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        posted = await send_post(
            doctor,
            subject_id,
            {
                "body": "訪問時に測定。",
                "category": "visit",
                "systolic": "132",
                "diastolic": "78",
                "pulse": "72",
                "temperature": "36.8",
                "measured_at": measured,
            },
        )
        assert posted.status_code == 303, posted.text[:800]  # type: ignore[attr-defined]
        assert "done=vitals_recorded" in location(posted) and "#post-" in location(posted)
        page = await doctor.get(location(posted).split("#")[0])
        assert "バイタルを記録しました" in page.text
        assert "訪問時に測定。" in page.text and "【バイタル】" in page.text

        vitals = await doctor.get(f"/staff/subjects/{subject_id}/vitals")
        assert vitals.status_code == 200
        assert "結 花子" in vitals.text
        drawn = re.findall(r'<svg class="vitals-chart"[^>]*data-measure="(\w+)"', vitals.text)
        assert drawn == ["blood_pressure", "pulse", "temperature"]
        assert "132/78" in vitals.text and "36.8" in vitals.text
        assert "山田 太郎（" in vitals.text  # who recorded it, with profession and facility
        assert measured.replace("T", " ") in vitals.text  # the measured time, in Japan's
        assert 'aria-current="page">7日間' in vitals.text
        longer = await doctor.get(f"/staff/subjects/{subject_id}/vitals", params={"days": "30"})
        assert 'aria-current="page">30日間' in longer.text and "132/78" in longer.text
        assert (
            f'href="/staff/subjects/{subject_id}/vitals"'
            in (await doctor.get(f"/staff/subjects/{subject_id}")).text
        )

    async def test_rec3_a_value_out_of_range_is_refused_readably_and_nothing_is_recorded(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        refused = await send_post(
            doctor, subject_id, {"body": "測定しました", "systolic": "300", "diastolic": "80", "pulse": "72"}
        )
        assert refused.status_code == 422  # type: ignore[attr-defined]
        text = refused.text  # type: ignore[attr-defined]
        assert "バイタルを記録できませんでした" in text and "血圧 上（収縮期）（60〜260 mmHg）" in text
        assert 'value="300"' in text and "測定しました</textarea>" in text  # what was sent, to correct
        assert '<details class="vitals-entry" open>' in text
        inconsistent = await send_post(doctor, subject_id, {"systolic": "80", "diastolic": "120"})
        assert inconsistent.status_code == 422  # type: ignore[attr-defined]
        assert "バイタルを記録できませんでした" in inconsistent.text  # type: ignore[attr-defined]

        vitals = await doctor.get(f"/staff/subjects/{subject_id}/vitals")
        assert vitals.status_code == 200 and "記録されたバイタルはありません" in vitals.text
        assert "<svg" not in vitals.text
        timeline = await doctor.get(f"/staff/subjects/{subject_id}/timeline")
        assert "【バイタル】" not in timeline.text and "測定しました" not in timeline.text

    async def test_rec3_without_vitals_an_empty_body_is_refused_and_vitals_take_no_files(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        empty = await send_post(doctor, subject_id, {"body": "  ", "measured_at": "2026-11-03T09:30"})
        assert empty.status_code == 422  # type: ignore[attr-defined]
        assert "本文を入力するか、バイタルを記録してください" in empty.text  # type: ignore[attr-defined]
        mentioned = await send_post(
            doctor, subject_id, {"pulse": "70", "mentions": str(network.nurse.user_id)}
        )
        assert mentioned.status_code == 422  # type: ignore[attr-defined]
        assert "別の投稿" in mentioned.text  # type: ignore[attr-defined]
        assert (
            "記録されたバイタルはありません"
            in (await doctor.get(f"/staff/subjects/{subject_id}/vitals")).text
        )
        plain = await send_post(doctor, subject_id, {"body": "本文だけの投稿"})
        assert plain.status_code == 303 and "done=posted" in location(plain)

    async def test_rec3_the_vitals_page_is_refused_outside_the_team_and_groups_have_no_vitals_form(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        nurse = await sign_in(stack, network.nurse)
        refused = await nurse.get(f"/staff/subjects/{subject_id}/vitals")
        assert refused.status_code == 404 and "結 花子" not in refused.text
        unknown = await doctor.get(f"/staff/subjects/{uuid4()}/vitals")
        assert unknown.status_code == 404
        created = await doctor.form("/staff/groups", "/staff/groups", {"name": "研修", "purpose": "training"})
        board = await doctor.get(location(created).split("?")[0])
        assert "post-form" in board.text and "バイタルを記録" not in board.text

    async def test_rec3_after_withdrawal_the_vitals_page_says_support_stopped(
        self, stack: Stack, network: Network
    ) -> None:
        doctor, subject_id = await patient(stack, network)
        recorded = await send_post(doctor, subject_id, {"spo2": "97"})
        assert recorded.status_code == 303  # type: ignore[attr-defined]
        withdrawn = await doctor.form(
            f"/staff/subjects/{subject_id}",
            f"/staff/subjects/{subject_id}/withdrawals",
            {"requested_by": "subject", "confirmed": "true"},
        )
        assert withdrawn.status_code == 303

        async def stopped() -> bool:
            page = await doctor.get(f"/staff/subjects/{subject_id}/vitals")
            return page.status_code in (200, 410) and "支援を停止しました" in page.text

        await eventually(stopped, what="the vitals page to say support stopped")
