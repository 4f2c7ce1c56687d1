"""A subject's medications in the staff UI (rec2, お薬): the duplicate-medication warnings the whole team sees, the
list (current, then ended), the add form with its drug search (an htmx fragment of the drug master's products,
or a plain form post without script), ending a medication and removing one entered in error."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from yui_common.web import language_of, translate
from yui_common.web import today_in_japan as today

from portal.clients.base import ServiceProblem
from portal.clients.consent import ConsentClient
from portal.clients.identity import IdentityClient
from portal.clients.timeline import Drug, DuplicateWarning, Medication, MedicationList, TimelineClient
from portal.session import Staff, StaffSession
from portal.staff.pages import (
    ConsentApi,
    IdentityApi,
    TimelineApi,
    back,
    gather,
    optional,
    page,
    refusal_page,
    stopped_page,
    support_stopped,
)

router = APIRouter(prefix="/staff")
TEMPLATE = "staff/medications.html"

# The form's text fields and timeline's maxima (MedicationCreate): the inputs' maxlength, checked here too.
LIMITS = {"name": 200, "ingredient": 200, "dose": 200, "prescriber": 100, "facility": 200}
DATES = ("start_date", "end_date")
FIELDS = ("drug_code", *LIMITS, *DATES)
QUERY_LIMIT = 100  # what the drug search sends on; longer is no product name
CHOICES = 20  # products offered per search


@dataclass(frozen=True)
class FieldError:
    """Why the form was not saved: a message key and the field it belongs to ("" for the whole form)."""

    key: str
    field: str = ""

    def message(self, lang: str) -> str:
        name = translate(lang, f"medications.field.{self.field}") if self.field else ""
        limit = LIMITS.get(self.field, 0)
        return translate(lang, f"medications.error.{self.key}", field=name, limit=limit)


@dataclass
class Draft:
    """What the form held, as typed (shown again when refused), the entry to send, and why it cannot be sent."""

    typed: dict[str, str]
    entry: dict[str, Any] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)

    @property
    def invalid(self) -> set[str]:
        return {e.field for e in self.errors if e.field}


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(unicodedata.normalize("NFKC", text).strip())
    except ValueError:
        return None


def read_form(form: Any) -> Draft:
    """The add form as timeline's MedicationCreate: a product of the master (drug_code) or a name and ingredient
    typed in, the dose, the facility and a start date are needed; everything typed is kept to be shown again."""
    typed = {name: str(form.get(name) or "").replace("\r\n", "\n").strip() for name in FIELDS}
    typed["drug_code"] = unicodedata.normalize("NFKC", typed["drug_code"]).upper()
    draft = Draft(typed)
    entry = draft.entry
    if typed["drug_code"]:
        entry["drug_code"] = typed["drug_code"]
    elif not typed["name"] and not typed["ingredient"]:
        draft.errors.append(FieldError("drug_or_name", "name"))
    else:
        for name in ("name", "ingredient"):
            if not typed[name]:
                draft.errors.append(FieldError("required", name))
            entry[name] = typed[name]
    for name in ("dose", "facility"):
        if not typed[name]:
            draft.errors.append(FieldError("required", name))
        entry[name] = typed[name]
    if typed["prescriber"]:
        entry["prescriber"] = typed["prescriber"]
    for name, limit in LIMITS.items():
        if len(typed[name]) > limit and (name in entry):
            draft.errors.append(FieldError("too_long", name))
    start, end = _date(typed["start_date"]), _date(typed["end_date"])
    if start is None:
        draft.errors.append(FieldError("date" if typed["start_date"] else "required", "start_date"))
    else:
        entry["start_date"] = start.isoformat()
    if typed["end_date"]:
        if end is None:
            draft.errors.append(FieldError("date", "end_date"))
        elif start is not None and end < start:
            draft.errors.append(FieldError("end_before_start", "end_date"))
        else:
            entry["end_date"] = end.isoformat()
    return draft


def refused_errors(refusal: ServiceProblem) -> list[FieldError]:
    """Timeline's 422 as the fields it names (``["body", "dose"]``); its rules of the whole entry (an unknown
    product code, neither a product nor a name, an end before the start) by their slugs."""
    by_slug = {
        "drug-unknown": FieldError("drug_unknown", "drug_code"),
        "medication-unnamed": FieldError("drug_or_name", "name"),
        "medication-period": FieldError("end_before_start", "end_date"),
    }
    if refusal.slug in by_slug:
        return [by_slug[refusal.slug]]
    found: list[FieldError] = []
    for error in refusal.extensions.get("errors") or []:
        location = [str(p) for p in (error.get("location") or [])] if isinstance(error, dict) else []
        named = [p for p in location if p in FIELDS]
        candidate = FieldError("refused", named[0]) if named else FieldError("refused")
        if candidate not in found:
            found.append(candidate)
    return found or [FieldError("refused")]


def warned_medications(
    warnings: list[DuplicateWarning], items: list[Medication]
) -> list[tuple[DuplicateWarning, list[Medication]]]:
    """Each warning with the medications it names, as the list holds them (a warning names them by id only)."""
    by_id = {m.id: m for m in items}
    return [(w, [by_id[i] for i in w.medication_ids if i in by_id]) for w in warnings]


async def duplicate_warnings(timeline: TimelineClient, subject_id: UUID) -> list[DuplicateWarning]:
    """The warnings for another page's banner (the subject's timeline): a part that may be missing, as
    ``optional`` has it (a refusal means no banner; an ended session still sends the browser to sign in)."""
    listed = await optional(timeline.medications(subject_id), MedicationList(subject_id=subject_id))
    return listed.warnings


async def _own_facility(identity: IdentityClient) -> str:
    profile = await optional(identity.profile(), None)
    return profile.facility_name if profile else ""


async def _choices(timeline: TimelineClient, q: str, chosen: str) -> list[Drug]:
    """The products a search offers, the one already chosen among them (looked up by its code when the search
    no longer finds it), so a form shown again keeps the choice."""
    q = q.strip()[:QUERY_LIMIT]
    found = await optional(timeline.search_drugs(q, CHOICES), []) if q else []
    if chosen and all(d.code != chosen for d in found):
        by_code = await optional(timeline.search_drugs(chosen, 5), [])
        found = [d for d in by_code if d.code == chosen] + found
    return found


async def _medications_page(
    request: Request,
    staff: StaffSession,
    consent: ConsentClient,
    timeline: TimelineClient,
    identity: IdentityClient,
    subject_id: UUID,
    *,
    draft: Draft | None = None,
    q: str = "",
    confirm_remove: UUID | None = None,
    end_error: tuple[UUID, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The page; after a refused form, with what was typed and why (beside each field and above the form)."""
    chosen = draft.typed["drug_code"] if draft else ""
    try:
        subject, found, facility, choices = await gather(
            consent.subject(subject_id),
            timeline.medications(subject_id),
            _own_facility(identity) if draft is None else _nothing(),
            _choices(timeline, q, chosen),
        )
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        if refusal.status == 410:
            return stopped_page(request, staff, TEMPLATE)
        return refusal_page(request, staff, refusal)
    lang = language_of(request)
    listing: MedicationList = found
    current = [m for m in listing.items if m.state != "ended"]
    ended = [m for m in listing.items if m.state == "ended"]
    typed = draft.typed if draft else {name: "" for name in FIELDS}
    if draft is None:
        typed = {**typed, "start_date": today().isoformat(), "facility": facility}
    errors = draft.errors if draft else []
    context = {
        "subject": subject,
        "stopped": support_stopped(subject),
        "warnings": warned_medications(listing.warnings, listing.items),
        "current": current,
        "ended": ended,
        "typed": typed,
        "q": q,
        "drugs": choices,
        "chosen": chosen,
        "searched": bool(q.strip()),
        "errors": [e.message(lang) for e in errors],
        "field_errors": {e.field: e.message(lang) for e in errors if e.field},
        "form_open": draft is not None,
        "limits": LIMITS,
        "today": today().isoformat(),
        "confirm_remove": confirm_remove,
        "end_error": end_error,
    }
    return page(request, staff, "staff/medications.html", context, status_code)


async def _nothing() -> str:
    return ""


@router.get("/subjects/{subject_id}/medications", response_class=HTMLResponse)
async def subject_medications(
    request: Request,
    subject_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    identity: IdentityApi,
) -> Response:
    """The patient's medications: duplicate warnings first, what is taken now and planned, then what ended; the
    form that adds one. Refused as the timeline is: 404 outside the team, 410 once support stopped."""
    return await _medications_page(request, staff, consent, timeline, identity, subject_id)


@router.get("/subjects/{subject_id}/medications/drugs", response_class=HTMLResponse)
async def drug_choices(
    request: Request, subject_id: UUID, staff: Staff, timeline: TimelineApi, q: str = ""
) -> Response:
    """The drug search's choices (htmx swaps them into the add form): a radio button per product of the
    network's drug master whose name, ingredient or code holds ``q``, and 「マスターにない薬」."""
    drugs = await _choices(timeline, q, "")
    context = {"drugs": drugs, "chosen": "", "searched": bool(q.strip()), "q": q[:QUERY_LIMIT]}
    return page(request, staff, "staff/medication_choices.html", context)


@router.post("/subjects/{subject_id}/medications", response_class=HTMLResponse)
async def add_medication(
    request: Request,
    subject_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    identity: IdentityApi,
) -> Response:
    """A medication added to the list, or the form again as typed with what to correct (422, nothing saved).
    「検索」 without script sends the form here too: the page comes back with the products found."""
    form = await request.form()
    draft = read_form(form)
    q = str(form.get("q") or "")[:QUERY_LIMIT]
    if form.get("action") == "search":
        draft.errors = []
        return await _medications_page(
            request, staff, consent, timeline, identity, subject_id, draft=draft, q=q
        )
    if not draft.errors:
        try:
            await timeline.add_medication(subject_id, draft.entry)
        except ServiceProblem as refusal:
            if refusal.status == 410:
                return stopped_page(request, staff, TEMPLATE)
            if refusal.status != 422:
                raise
            draft.errors = refused_errors(refusal)
        else:
            return back(request, f"/subjects/{subject_id}/medications", done="medication_added")
    return await _medications_page(
        request, staff, consent, timeline, identity, subject_id, draft=draft, q=q, status_code=422
    )


@router.post("/subjects/{subject_id}/medications/{medication_id}/end", response_class=HTMLResponse)
async def end_medication(
    request: Request,
    subject_id: UUID,
    medication_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    identity: IdentityApi,
    end_date: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """「中止」: the medication ends on the day given (today unless another was chosen)."""
    lang = language_of(request)
    ends = _date(end_date) if end_date.strip() else today()
    if ends is not None:
        try:
            await timeline.end_medication(subject_id, medication_id, ends)
        except ServiceProblem as refusal:
            if refusal.status == 410:
                return stopped_page(request, staff, TEMPLATE)
            if refusal.status != 422:
                raise
        else:
            return back(request, f"/subjects/{subject_id}/medications", done="medication_ended")
    problem = (medication_id, translate(lang, "medications.error.end_date"))
    return await _medications_page(
        request, staff, consent, timeline, identity, subject_id, end_error=problem, status_code=422
    )


@router.post("/subjects/{subject_id}/medications/{medication_id}/remove", response_class=HTMLResponse)
async def remove_medication(
    request: Request,
    subject_id: UUID,
    medication_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    identity: IdentityApi,
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    """「誤登録として削除」 in two steps: the first shows the page asking to confirm for that medication, the second
    (confirmed) removes it from the list (timeline keeps it for the audit trail)."""
    if not confirmed:
        return await _medications_page(
            request, staff, consent, timeline, identity, subject_id, confirm_remove=medication_id
        )
    try:
        await timeline.remove_medication(subject_id, medication_id)
    except ServiceProblem as refusal:
        if refusal.status == 410:
            return stopped_page(request, staff, TEMPLATE)
        raise
    return back(request, f"/subjects/{subject_id}/medications", done="medication_removed")
