"""A subject's vital signs in the staff UI (rec3): the post form's 「バイタルを記録」 values read and checked, and
the page that charts the last 7, 30 or 90 days with a table of every entry."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from yui_common.web import DISPLAY_TIMEZONE, language_of, translate

from portal.clients.base import ServiceProblem
from portal.session import Staff
from portal.staff.pages import (
    ConsentApi,
    TimelineApi,
    gather,
    page,
    refusal_page,
    stopped_page,
    support_stopped,
)
from portal.staff.vitals_chart import FIELDS, FIELDS_BY_NAME, Field, cells, charts, within

router = APIRouter(prefix="/staff")
PERIODS = (7, 30, 90)  # the page's switch; any 1–400 days answers, as timeline does
MAX_DAYS = 400
MEASURED_AT = "measured_at"
MEASURED_AT_SHOWN = "measured_at_shown"  # the default the page filled in; unchanged, it means "now"
NOTE_LIMIT = 2000  # timeline's VitalsCreate.note: the post's text is the vitals' note


@dataclass
class VitalsEntry:
    """What the form's 「バイタルを記録」 held: the values to send, or why they cannot be sent (field names)."""

    values: dict[str, Any] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)
    given: bool = False  # at least one measure was filled in


def _number(text: str, spec: Field) -> float | int | None:
    """A number as typed on a tablet (full-width digits too); None when it is not one this field takes."""
    try:
        value = Decimal(unicodedata.normalize("NFKC", text).strip())
    except InvalidOperation:
        return None
    # No measure has more than four digits before the point: a typed exponent (1e999999) must not become a
    # 10,000-digit number to round or send (the review found a 500 and a worker held for seconds).
    if not value.is_finite() or value.adjusted() > 4:
        return None
    try:
        if spec.decimals == 0:
            return int(value) if value == value.to_integral_value() else None
        return float(round(value, spec.decimals))
    except InvalidOperation:
        return None


def _moment(text: str) -> datetime | None:
    """A datetime-local value ("2026-11-03T09:30"): the wall clock in Japan; an offset, when sent, is kept."""
    try:
        moment = datetime.fromisoformat(unicodedata.normalize("NFKC", text).strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=DISPLAY_TIMEZONE)


def read_entry(form: dict[str, str]) -> VitalsEntry:
    """The measures filled in and the measured time; a value that is no number is named in ``invalid``
    (ranges are timeline's to judge: its 422 names the field, and the page says which)."""
    entry = VitalsEntry()
    for spec in FIELDS:
        text = (form.get(spec.name) or "").strip()
        if not text:
            continue
        entry.given = True
        number = _number(text, spec)
        if number is None:
            entry.invalid.append(spec.name)
        else:
            entry.values[spec.name] = number
    when = (form.get(MEASURED_AT) or "").strip()
    if when and when == (form.get(MEASURED_AT_SHOWN) or "").strip():
        # Left as the page filled it in (the minute the page was drawn): measured now, when it is sent. A tablet
        # left open on the timeline would otherwise date later readings to when the page was opened.
        when = ""
    if entry.given and when:
        moment = _moment(when)
        if moment is None:
            entry.invalid.append(MEASURED_AT)
        else:
            entry.values[MEASURED_AT] = moment.isoformat()
    return entry


def refused_fields(refusal: ServiceProblem) -> list[str]:
    """The form's fields a 422 from timeline names in its errors' locations (``["body", "systolic"]``)."""
    if refusal.slug in ("vitals-in-the-future", "vitals-too-old"):
        return [MEASURED_AT]
    names = []
    for error in refusal.extensions.get("errors") or []:
        location = error.get("location") if isinstance(error, dict) else None
        for part in location or []:
            if (part in FIELDS_BY_NAME or part in (MEASURED_AT, "note")) and part not in names:
                names.append(part)
    return names


def field_label(lang: str, name: str) -> str:
    """「収縮期血圧（上）60〜260 mmHg」: which value, and what it may be."""
    if name == MEASURED_AT:
        return translate(lang, "vitals.form.measured_at") + translate(lang, "vitals.range.measured_at")
    if name == "note":
        return translate(lang, "vitals.range.note", limit=NOTE_LIMIT)
    spec = FIELDS_BY_NAME[name]
    accepted = translate(
        lang, "vitals.range", low=spec.shown(spec.low), high=spec.shown(spec.high), unit=unit(lang, name)
    )
    return translate(lang, f"vitals.field.{name}") + accepted


def unit(lang: str, name: str) -> str:
    return translate(lang, f"vitals.unit.{name}")


def entry_error(lang: str, names: list[str]) -> str:
    """The sentence the page shows above the form when the values were not recorded."""
    if names:
        joiner = "、" if lang == "ja" else "; "
        return translate(lang, "vitals.error.fields", fields=joiner.join(field_label(lang, n) for n in names))
    return translate(lang, "vitals.error.values")


def now_for_form() -> str:
    """The datetime-local default: now, on Japan's wall clock, to the minute."""
    return datetime.now(DISPLAY_TIMEZONE).strftime("%Y-%m-%dT%H:%M")


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        return PERIODS[0]
    return min(max(days, 1), MAX_DAYS)


@router.get("/subjects/{subject_id}/vitals", response_class=HTMLResponse)
async def subject_vitals(
    request: Request,
    subject_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    days: str = "7",
) -> Response:
    """The patient's vital signs over a period: a chart per measure that has values, then every entry (newest
    first) with who recorded it. Refused as the timeline is: 404 outside the team, support stopped (410)."""
    period = _days(days[:4])
    try:
        subject, found = await gather(consent.subject(subject_id), timeline.vitals(subject_id, period))
    except ServiceProblem as refusal:
        if refusal.status == 410:
            return stopped_page(request, staff, "staff/vitals.html")
        if refusal.session_ended:
            raise
        return refusal_page(request, staff, refusal)
    lang = language_of(request)
    now = datetime.now(DISPLAY_TIMEZONE)
    shown = within(found.items, days=period, now=now)
    drawn = charts(shown, days=period, now=now, words=lambda key: translate(lang, key))
    context = {
        "subject": subject,
        "stopped": support_stopped(subject),
        "days": period,
        "periods": PERIODS,
        "charts": drawn,
        # The table's columns: the measures charted (one taken in the period), not seven columns of dashes.
        "rows": [(entry, cells(entry, [m for m, _ in drawn])) for entry in reversed(shown)],
        "measures": [m for m, _ in drawn],
    }
    return page(request, staff, "staff/vitals.html", context)
