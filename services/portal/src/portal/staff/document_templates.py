"""The four standard documents' templates (rec4) and their drafts: each document's boxes in the official form's
order, and each box filled from what Yui knows of the patient (consent's subject, timeline's summary, medications
and vital signs) and of the writer. The drafts are in Japanese, as the documents are."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from yui_common.people import PersonRef
from yui_common.vocabulary import PostCategory
from yui_common.web import DISPLAY_TIMEZONE, translate

from portal.clients.consent import Subject
from portal.clients.timeline import Medication, SummaryContent, Vitals
from portal.staff.pages import japanese_day
from portal.staff.vitals_chart import FIELDS_BY_NAME

JA = "ja"  # the documents' language


@dataclass(frozen=True)
class DocumentField:
    """One box of a document: its form name (its label is ``documents.field.<name>``), the most characters it
    takes, its height on the form (1: one line) and whether the document is incomplete without it."""

    name: str
    limit: int
    lines: int = 1
    required: bool = False


@dataclass(frozen=True)
class DocumentTemplate:
    """A document's kind: its key (its title is ``documents.template.<key>``), its boxes in the official form's
    order, the timeline category its post takes, and whether it covers a month (the report) or a day."""

    key: str
    fields: tuple[DocumentField, ...]
    category: PostCategory
    monthly: bool = False


TEMPLATES: dict[str, DocumentTemplate] = {
    template.key: template
    for template in (
        # The doctor's instruction to the visiting nurses: T1's 「指示」.
        DocumentTemplate(
            "visiting_nurse_instruction",
            (
                DocumentField("instruction_period", 100, required=True),
                DocumentField("diagnosis", 500, 3, required=True),
                DocumentField("condition", 1500, 5, required=True),
                DocumentField("medications", 1500, 5),
                DocumentField("independence", 500, 2),
                DocumentField("care_level", 100),
                DocumentField("devices", 500, 2),
                DocumentField("instructions", 2000, 6, required=True),
                DocumentField("emergency_contacts", 600, 3),
                DocumentField("special_notes", 1000, 3),
            ),
            category="instruction",
        ),
        # The nurse's monthly report of the visits to the doctor: T1's 「訪問」, what the visits found and did.
        DocumentTemplate(
            "visiting_nurse_report",
            (
                DocumentField("addressee", 200),
                DocumentField("report_period", 100, required=True),
                DocumentField("diagnosis", 500, 3),
                DocumentField("care_level", 100),
                DocumentField("visit_dates", 500, 2, required=True),
                DocumentField("progress", 2000, 6, required=True),
                DocumentField("nursing", 2000, 6, required=True),
                DocumentField("home_care", 1000, 3),
                DocumentField("supplies", 500, 2),
                DocumentField("report_notes", 1000, 3),
            ),
            category="visit",
            monthly=True,
        ),
        # A doctor's or pharmacist's report to the care manager: its point is what the carers must heed, so
        # 「指示」; a pharmacist's (whose guidance is the medicines) posts as 「服薬」 instead (see category_for).
        DocumentTemplate(
            "home_care_guidance_report",
            (
                DocumentField("recipient", 200),
                DocumentField("guidance_date", 100, required=True),
                DocumentField("diagnosis", 500, 3),
                DocumentField("care_level", 100),
                DocumentField("guidance", 2000, 6, required=True),
                DocumentField("medication_status", 1500, 5),
                DocumentField("care_advice", 1500, 5),
            ),
            category="instruction",
        ),
        # The minutes of the care team's meeting, kept by the care manager: T1's 「支援経過」 (the care plan's
        # progress record, where the meeting's conclusions belong).
        DocumentTemplate(
            "care_team_meeting",
            (
                DocumentField("held_at", 100, required=True),
                DocumentField("place", 200, required=True),
                DocumentField("attendees", 1000, 4, required=True),
                DocumentField("topics", 1000, 4, required=True),
                DocumentField("discussion", 2000, 6, required=True),
                DocumentField("conclusion", 1500, 4, required=True),
                DocumentField("open_issues", 1000, 3),
            ),
            category="support_progress",
        ),
    )
}


def category_for(template: DocumentTemplate, profession: str) -> PostCategory:
    if template.key == "home_care_guidance_report" and profession == "pharmacist":
        return "medication"
    return template.category


@dataclass
class Known:
    """What Yui knows that a document starts from; a part that could not be read is simply empty."""

    subject: Subject
    summary: SummaryContent
    medications: list[Medication]
    vitals: list[Vitals]  # oldest first
    author: PersonRef
    now: datetime  # in Japan's time


# --- drafting: the boxes filled from what Yui knows ----------------------------------------------------------


def words(key: str, **params: object) -> str:
    return translate(JA, key, **params)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for candidate in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, _add_months(first, 1) - timedelta(days=1)


REPORT_WRITTEN_BY = (
    10  # a monthly report is written in the first days of the next month, for the month before
)


def report_month(today: date) -> tuple[date, date]:
    """The first and last day of the month a monthly report drafted ``today`` (Japan's calendar) covers: the
    previous month up to the 10th (the report is written early in the month after), else the current one."""
    if today.day <= REPORT_WRITTEN_BY:
        return _month_bounds(_add_months(today.replace(day=1), -1))
    return _month_bounds(today)


def vitals_days(today: date) -> int:
    """How many days of vital signs a draft asks timeline for: the report's whole month up to today (timeline
    counts back from now, so a day more), and never fewer than the 30 the other documents' latest values use."""
    first, _ = report_month(today)
    return max(30, (today - first).days + 2)


def _doctor(content: SummaryContent) -> str:
    doctor = content.family_doctor
    if not doctor or not doctor.name:
        return ""
    return doctor.name + (f"（{doctor.facility}）" if doctor.facility else "")


def _phone(number: str) -> str:
    return f"　{words('documents.draft.phone', phone=number)}" if number else ""


def _diagnosis(content: SummaryContent) -> str:
    return "\n".join(p.name + (f"（{p.since}）" if p.since else "") for p in content.problems if p.name)


def _care_level(content: SummaryContent) -> str:
    return words(f"summary.care_level.{content.care_level}") if content.care_level else ""


def _medications(medications: list[Medication]) -> str:
    return "\n".join(
        "　".join(x for x in (m.name, m.dose, f"（{m.facility}）" if m.facility else "") if x)
        for m in medications
        if m.state == "active"
    )


def _contacts(content: SummaryContent) -> str:
    lines = []
    if content.family_doctor and content.family_doctor.name:
        doctor = words("documents.draft.family_doctor", name=_doctor(content))
        lines.append(doctor + _phone(content.family_doctor.phone))
    station = content.visiting_nurse_station
    if station and station.name:
        lines.append(words("documents.draft.station", name=station.name) + _phone(station.phone))
    for contact in content.emergency_contacts:
        relation = f"（{contact.relation}）" if contact.relation else ""
        lines.append(words("documents.draft.family", name=contact.name + relation) + _phone(contact.phone))
    return "\n".join(lines)


def _measure(name: str, values: Sequence[float]) -> str:
    spec = FIELDS_BY_NAME[name]
    low, high = spec.shown(min(values)), spec.shown(max(values))
    return low if low == high else f"{low}〜{high}"


def vitals_text(entries: list[Vitals]) -> str:
    """「血圧 120〜140/70〜85 mmHg、脈拍 64〜80 回/分…」: each measure's range over ``entries`` (one value when the
    entries agree or are one)."""
    parts = []
    systolic = [e.systolic for e in entries if e.systolic is not None]
    diastolic = [e.diastolic for e in entries if e.diastolic is not None]
    if systolic and diastolic:
        pressure = f"{_measure('systolic', systolic)}/{_measure('diastolic', diastolic)}"
        parts.append(f"{words('documents.vitals.blood_pressure')} {pressure} {words('vitals.unit.systolic')}")
    for name in ("pulse", "spo2", "temperature", "respiration", "weight", "glucose"):
        values = [float(v) for e in entries if (v := getattr(e, name)) is not None]
        if values:
            parts.append(
                f"{words(f'documents.vitals.{name}')} {_measure(name, values)} {words(f'vitals.unit.{name}')}"
            )
    return "、".join(parts)


def _local(moment: datetime) -> datetime:
    return moment.astimezone(DISPLAY_TIMEZONE)


def latest_vitals(entries: list[Vitals]) -> str:
    if not entries:
        return ""
    newest = entries[-1]
    when = _local(newest.measured_at).strftime("%Y-%m-%d %H:%M")
    return words("documents.draft.latest_vitals", when=when, values=vitals_text([newest]))


def month_vitals(entries: list[Vitals], first: date, last: date) -> tuple[list[Vitals], str]:
    """The entries measured from ``first`` to ``last`` (Japan's calendar: the report's month) and the line that
    sums them up."""
    shown = [e for e in entries if first <= _local(e.measured_at).date() <= last]
    if not shown:
        return [], ""
    return shown, words(
        "documents.draft.month_vitals", month=first.month, count=len(shown), values=vitals_text(shown)
    )


def draft(template: DocumentTemplate, known: Known) -> dict[str, str]:
    """Every box of ``template`` filled from ``known`` where Yui knows something; the rest left blank."""
    content, now, today = known.summary, known.now, known.now.date()
    first, last = report_month(today)
    month_entries, month_line = month_vitals(known.vitals, first, last)
    notes = "\n".join(f"{p.name}: {p.note}" for p in content.problems if p.name and p.note)
    station = content.visiting_nurse_station
    attendees = [known.author.label(JA)]
    if _doctor(content):
        attendees.append(words("documents.draft.family_doctor", name=_doctor(content)))
    if station and station.name:
        attendees.append(words("documents.draft.station", name=station.name))
    values = {
        "instruction_period": f"{japanese_day(today)}〜{japanese_day(_add_months(today, 6) - timedelta(days=1))}",
        "diagnosis": _diagnosis(content),
        "condition": "\n".join(x for x in (notes, latest_vitals(known.vitals)) if x),
        "medications": _medications(known.medications),
        "medication_status": _medications(known.medications),
        "independence": content.adl,
        "care_level": _care_level(content),
        "emergency_contacts": _contacts(content),
        "addressee": _doctor(content),
        "report_period": f"{japanese_day(first)}〜{japanese_day(last)}",
        "visit_dates": "、".join(
            dict.fromkeys(
                f"{_local(e.measured_at).month}月{_local(e.measured_at).day}日" for e in month_entries
            )
        ),
        "progress": month_line,
        "home_care": content.living_situation,
        "guidance_date": japanese_day(today),
        "held_at": f"{japanese_day(today)} {now.strftime('%H:%M')}",
        "place": words("documents.draft.home"),
        "attendees": "\n".join(attendees),
    }
    return {f.name: values.get(f.name, "") for f in template.fields}
