"""A subject's summary in the staff UI (rec1, 基本情報・緊急時情報): the page that shows it section by section with
its versions, the form that writes a new version (read and checked here, judged again by timeline), and the
emergency sheet PDF for the ambulance crew (drawn by portal.staff.emergency_sheet)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from yui_common import networks
from yui_common.web import DISPLAY_TIMEZONE, language_of, translate

from portal.clients.base import ServiceProblem
from portal.clients.consent import ConsentClient
from portal.clients.timeline import (
    AdvanceCarePlan,
    Allergy,
    EmergencyContact,
    FamilyDoctor,
    HealthProblem,
    NurseStation,
    Summary,
    SummaryContent,
    TimelineClient,
    as_summary,
)
from portal.session import Staff, StaffSession, single_statement_session
from portal.staff.emergency_sheet import Sheet, draw_sheet, undrawable
from portal.staff.pages import (
    ConsentApi,
    TimelineApi,
    back,
    gather,
    page,
    refusal_page,
    stopped_page,
    support_stopped,
)

router = APIRouter(prefix="/staff")
TEMPLATE = "staff/summary.html"

# The form's parts and their fields with timeline's maxima (the inputs' maxlength): an object that may be left
# out, and lists of rows, each row's first field the one it cannot do without.
OBJECTS: dict[str, tuple[tuple[str, int], ...]] = {
    "family_doctor": (("name", 100), ("facility", 200), ("phone", 32)),
    "visiting_nurse_station": (("name", 200), ("phone", 32)),
}
LISTS: dict[str, tuple[tuple[str, int], ...]] = {
    "emergency_contacts": (("name", 100), ("relation", 50), ("phone", 32)),
    "problems": (("name", 200), ("since", 50), ("note", 500)),
    "allergies": (("substance", 200), ("reaction", 200)),
}
LIST_LIMITS = {"emergency_contacts": 5, "problems": 30, "allergies": 30}
TEXTS = {"adl": 1000, "living_situation": 1000, "acp-wishes": 2000}
ROW_MODELS: dict[str, Any] = {
    "emergency_contacts": EmergencyContact,
    "problems": HealthProblem,
    "allergies": Allergy,
}
BLANK_ROWS = 2  # below a list's rows, for adding without script; blank rows are dropped when saved
CARE_LEVELS = ("none", "support_1", "support_2", "care_1", "care_2", "care_3", "care_4", "care_5", "applying")
DNAR_CHOICES = ("yes", "no", "undecided")
PHONES = {"phone"}
ROW_FIELD = re.compile(r"^(?P<section>[a-z_]+)-(?P<row>\d{1,3})-(?P<field>[a-z_]+)$")
SUMMARY_CHANGED = "summary-changed"


@dataclass(frozen=True)
class FormError:
    """Why the form was not saved, in words at render time: a message key and what it names."""

    key: str
    section: str = ""
    row: int = 0  # 1-based, as the rows are shown again
    field: str = ""
    limit: int = 0

    def message(self, lang: str) -> str:
        params: dict[str, Any] = {"row": self.row, "limit": self.limit}
        if self.section:
            params["section"] = translate(lang, f"summary.section.{self.section}")
        if self.field:
            params["field"] = translate(lang, f"summary.field.{self.section}.{self.field}")
        return translate(lang, f"summary.error.{self.key}", **params)


@dataclass
class Draft:
    """What the form held: the content to save (blank rows dropped), the version it was written over, and why
    it cannot be saved yet. The page shows a refused draft again as it was typed."""

    content: SummaryContent
    expected_version: int | None
    errors: list[FormError] = field(default_factory=list)


def _clean(value: str, name: str) -> str:
    """Trimmed; a textarea's CRLF as one newline; a phone number typed with full-width digits in ASCII."""
    text = value.replace("\r\n", "\n").strip()
    return unicodedata.normalize("NFKC", text) if name in PHONES else text


def _first_values(form: Any) -> dict[str, str]:
    """A submitted form as one text per name (the first, should a name come twice)."""
    values: dict[str, str] = {}
    items = form.multi_items() if hasattr(form, "multi_items") else form.items()
    for name, value in items:
        if isinstance(value, str):
            values.setdefault(name, value)
    return values


def read_form(form: Mapping[str, str] | Any) -> Draft:
    """The form's fields as summary content; rows with nothing typed are dropped, a row or part with text but
    without its name is named in ``errors`` (nothing typed is dropped without a word)."""
    values = _first_values(form)
    errors: list[FormError] = []

    def text(name: str) -> str:
        return _clean(values.get(name, ""), name.rsplit("-", 1)[-1])

    parts: dict[str, Any] = {}
    for section, fields in OBJECTS.items():
        typed = {name: text(f"{section}-{name}") for name, _ in fields}
        if any(typed.values()):
            required = fields[0][0]
            if not typed[required]:
                errors.append(FormError("blank_part", section, field=required))
            parts[section] = typed

    rows: dict[str, dict[int, dict[str, str]]] = {section: {} for section in LISTS}
    for name, value in values.items():
        match = ROW_FIELD.match(name)
        if match and match["section"] in LISTS:
            known = {f for f, _ in LISTS[match["section"]]}
            if match["field"] in known:
                row = rows[match["section"]].setdefault(int(match["row"]), {})
                row[match["field"]] = _clean(value, match["field"])
    lists: dict[str, list[Any]] = {}
    for section, fields in LISTS.items():
        kept = [row for _, row in sorted(rows[section].items()) if any(row.values())]
        required = fields[0][0]
        for number, row in enumerate(kept, start=1):
            if not row.get(required):
                errors.append(FormError("blank_row", section, row=number, field=required))
        if len(kept) > LIST_LIMITS[section]:
            errors.append(FormError("too_many", section, limit=LIST_LIMITS[section]))
        lists[section] = [ROW_MODELS[section](**row) for row in kept]

    no_known_allergies = values.get("no_known_allergies", "") in ("true", "on", "1")
    if no_known_allergies and lists["allergies"]:
        errors.append(FormError("allergies_both"))
    care_level = values.get("care_level", "").strip()
    if care_level and care_level not in CARE_LEVELS:
        errors.append(FormError("choice", "care_level"))
    dnar = values.get("acp-dnar", "").strip()
    if dnar and dnar not in DNAR_CHOICES:
        errors.append(FormError("choice", "acp"))
    wishes = text("acp-wishes")

    content = SummaryContent(
        family_doctor=FamilyDoctor(**parts["family_doctor"]) if "family_doctor" in parts else None,
        visiting_nurse_station=(
            NurseStation(**parts["visiting_nurse_station"]) if "visiting_nurse_station" in parts else None
        ),
        emergency_contacts=lists["emergency_contacts"],
        problems=lists["problems"],
        allergies=lists["allergies"],
        no_known_allergies=no_known_allergies,
        care_level=care_level or None,
        adl=text("adl"),
        acp=AdvanceCarePlan(wishes=wishes, dnar=dnar or None) if wishes or dnar else None,
        living_situation=text("living_situation"),
    )
    try:
        expected: int | None = int(values.get("expected_version", ""))
    except ValueError:
        expected = None
    if expected is None or expected < 0:
        expected = None
        errors.append(FormError("version"))
    return Draft(content, expected, errors)


def refused_errors(refusal: ServiceProblem) -> list[FormError]:
    """Timeline's 422 as the form's parts and rows it names (``["body", "content", "problems", "2", "note"]``
    is the third problem's row); a rule of the whole content (allergies both ways) by itself."""
    found: list[FormError] = []
    for error in refusal.extensions.get("errors") or []:
        location = [str(p) for p in (error.get("location") or [])] if isinstance(error, dict) else []
        if "content" not in location:
            continue
        path = location[location.index("content") + 1 :]
        section = path[0] if path else ""
        if section in LISTS and len(path) > 1 and path[1].isdigit():
            candidate = FormError("refused_row", section, row=int(path[1]) + 1)
        elif (
            section in OBJECTS
            or section in LISTS
            or section in ("adl", "living_situation", "acp", "care_level")
        ):
            candidate = FormError("refused_part", section)
        else:
            candidate = FormError("refused")
        if candidate not in found:
            found.append(candidate)
    return found or [FormError("refused")]


def form_rows(content: SummaryContent) -> dict[str, list[Any]]:
    """Each list's rows as the form shows them: those written, then blank ones to add to, up to its limit."""
    shown: dict[str, list[Any]] = {}
    for section in LISTS:
        written = list(getattr(content, section))
        room = max(LIST_LIMITS[section] - len(written), 0)
        shown[section] = written + [ROW_MODELS[section]() for _ in range(min(BLANK_ROWS, room))]
    return shown


async def _summary_page(
    request: Request,
    staff: StaffSession,
    consent: ConsentClient,
    timeline: TimelineClient,
    subject_id: UUID,
    *,
    draft: Draft | None = None,
    conflict: bool = False,
    status_code: int = 200,
) -> Response:
    """The page; after a refused save, with the form as it was typed and why (the newer version shown above it
    when someone else saved first)."""
    try:
        # Every version, newest first: the newest is the summary as it stands, so one call to timeline serves
        # the summary and its history (and the page costs one audit entry there, not two).
        subject, versions = await gather(consent.subject(subject_id), timeline.summary_versions(subject_id))
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        if refusal.status == 410:
            return stopped_page(request, staff, TEMPLATE)
        return refusal_page(request, staff, refusal)
    current = as_summary(subject_id, versions[0]) if versions else Summary(subject_id=subject_id)
    lang = language_of(request)
    shown = draft.content if draft else (current.content or SummaryContent())
    expected = current.version if conflict or draft is None else draft.expected_version
    # What the sheet would print as 〓 (a name's 𠮷 among them), said beside its link.
    missing = undrawable(
        subject.model_dump_json() + (current.content.model_dump_json() if current.content else "")
    )
    context = {
        "subject": subject,
        "stopped": support_stopped(subject),
        "sheet_replaced": ("、" if lang == "ja" else ", ").join(missing),
        "summary": current,
        "content": current.content,
        "versions": versions,
        "draft": shown,
        "rows": form_rows(shown),
        "expected_version": current.version if expected is None else expected,
        "errors": [e.message(lang) for e in (draft.errors if draft and not conflict else [])],
        "conflict": conflict,
        "editing": draft is not None or current.version == 0,
        "objects": OBJECTS,
        "lists": LISTS,
        "texts": TEXTS,
        "care_levels": CARE_LEVELS,
        "dnar_choices": DNAR_CHOICES,
    }
    return page(request, staff, "staff/summary.html", context, status_code)


@router.get("/subjects/{subject_id}/summary", response_class=HTMLResponse)
async def subject_summary(
    request: Request, subject_id: UUID, staff: Staff, consent: ConsentApi, timeline: TimelineApi
) -> Response:
    """The patient's summary at a glance (allergies first), who saved it and when, every version with its
    signature checked, and the form that writes the next. Refused as the timeline is (404, 410)."""
    return await _summary_page(request, staff, consent, timeline, subject_id)


@router.post("/subjects/{subject_id}/summary", response_class=HTMLResponse)
async def save_summary(
    request: Request, subject_id: UUID, staff: Staff, consent: ConsentApi, timeline: TimelineApi
) -> Response:
    """A new version of the summary, or the form again as typed: 422 with what to correct, 409 when someone
    saved first (their version shown, the typed text kept, the next save going over theirs)."""
    draft = read_form(await request.form())
    if not draft.errors and draft.expected_version == 0 and draft.content.empty:
        draft.errors.append(FormError("empty"))
    if draft.errors or draft.expected_version is None:
        return await _summary_page(
            request, staff, consent, timeline, subject_id, draft=draft, status_code=422
        )
    try:
        await timeline.save_summary(subject_id, draft.expected_version, draft.content)
    except ServiceProblem as refusal:
        if refusal.status == 409 and refusal.slug == SUMMARY_CHANGED:
            return await _summary_page(
                request, staff, consent, timeline, subject_id, draft=draft, conflict=True, status_code=409
            )
        if refusal.status == 422:
            draft.errors = refused_errors(refusal)
            return await _summary_page(
                request, staff, consent, timeline, subject_id, draft=draft, status_code=422
            )
        if refusal.status == 410:
            return stopped_page(request, staff, TEMPLATE)
        raise
    return back(request, f"/subjects/{subject_id}/summary", done="summary_saved")


async def _network_name(request: Request, tenant: str) -> str | None:
    """The network's name as the portal's projection knows it (a network never announced has none)."""
    async with single_statement_session(request.app) as session:
        state = await networks.state_of(session, tenant)
    return state.name if state else None


@router.get("/subjects/{subject_id}/summary/emergency-sheet.pdf", response_class=Response)
async def emergency_sheet(
    request: Request, subject_id: UUID, staff: Staff, consent: ConsentApi, timeline: TimelineApi
) -> Response:
    """The summary on one A4 page for the 救急医療情報キット (for the ambulance crew, so in Japanese whatever the
    reader's language), never cached; refused as the page is."""
    try:
        subject, current = await gather(consent.subject(subject_id), timeline.summary(subject_id))
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        if refusal.status == 410:
            return stopped_page(request, staff, TEMPLATE)
        return refusal_page(request, staff, refusal)
    if support_stopped(subject):
        return stopped_page(request, staff, TEMPLATE)
    sheet = Sheet(
        subject=subject,
        summary=current,
        network=await _network_name(request, staff.tenant),
        printed_at=datetime.now(DISPLAY_TIMEZONE),
    )
    pdf = await run_in_threadpool(draw_sheet, sheet)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'inline; filename="emergency-sheet.pdf"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
