"""Standard documents from templates (rec4): the four papers a home-care team exchanges, drafted from what Yui
knows of the patient (consent's subject, timeline's summary, medications and vital signs) and of the writer,
edited on the page, drawn as a PDF (portal.staff.document_pdf) and posted to the subject's timeline as a signed
attachment. The documents are in Japanese whatever the writer's language: they go to Japanese facilities."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from yui_common import networks
from yui_common.people import PersonRef
from yui_common.web import DISPLAY_TIMEZONE, language_of, translate

from portal.clients.base import ServiceProblem
from portal.clients.consent import Subject
from portal.clients.timeline import Conversation, SummaryContent
from portal.session import Staff, StaffSession, single_statement_session
from portal.staff.document_pdf import MAX_PAGES, Document, Section, draw_document, pages_needed
from portal.staff.document_templates import (
    JA,
    TEMPLATES,
    DocumentTemplate,
    Known,
    category_for,
    draft,
    vitals_days,
    words,
)
from portal.staff.emergency_sheet import undrawable
from portal.staff.pages import (
    ConsentApi,
    IdentityApi,
    TimelineApi,
    back,
    gather,
    japanese_day,
    optional,
    page,
    refusal_page,
    stopped_page,
    support_stopped,
)

router = APIRouter(prefix="/staff")
TEMPLATE = "staff/documents.html"
FILENAME_KEEP = frozenset("ー々〆ヶ")  # kana marks a family name may hold besides letters
MONTH_IN_TEXT = re.compile(r"(\d{4})\s*[年/\-.]\s*(\d{1,2})")


@dataclass(frozen=True)
class FormError:
    """Why the document was not made, in words at render time: a message key and the box it names."""

    key: str
    field: str = ""
    limit: int = 0
    length: int = 0

    def message(self, lang: str) -> str:
        label = translate(lang, f"documents.field.{self.field}") if self.field else ""
        return translate(
            lang,
            f"documents.error.{self.key}",
            field=label,
            limit=self.limit,
            length=self.length,
            pages=MAX_PAGES,
        )


# --- reading the form ---------------------------------------------------------------------------------------


def _clean(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def read_form(template: DocumentTemplate, form: Mapping[str, Any]) -> tuple[dict[str, str], list[FormError]]:
    """The boxes as typed (trimmed, newlines as one) and what keeps them from becoming the document: a required
    box left blank, a box longer than it takes."""
    values: dict[str, str] = {}
    errors: list[FormError] = []
    for spec in template.fields:
        raw = form.get(spec.name)
        text = _clean(raw if isinstance(raw, str) else "")
        values[spec.name] = text
        if spec.required and not text:
            errors.append(FormError("required", spec.name))
        elif len(text) > spec.limit:
            errors.append(FormError("too_long", spec.name, limit=spec.limit, length=len(text)))
    return values, errors


# --- the document, its file name and its post ----------------------------------------------------------------


def build_document(
    template: DocumentTemplate,
    subject: Subject,
    values: Mapping[str, str],
    author: PersonRef,
    created_at: datetime,
    network: str | None,
) -> Document:
    return Document(
        title=words(f"documents.template.{template.key}"),
        subject=subject,
        sections=tuple(
            Section(words(f"documents.field.{f.name}"), values.get(f.name, "")) for f in template.fields
        ),
        author=author.label(JA),
        created_at=created_at,
        network=network,
    )


def family_name(subject: Subject) -> str:
    """The subject's family name as a file name may hold it: letters and digits only (no path, no dots)."""
    first = re.split(r"\s+", unicodedata.normalize("NFC", subject.name).strip().replace("\u3000", " "))[0]
    kept = "".join(c for c in first if c.isalnum() or c in FILENAME_KEEP)[:30]
    return kept or words("documents.file.patient")


def covered_month(template: DocumentTemplate, values: Mapping[str, str], now: datetime) -> tuple[int, int]:
    """The month a report covers: the first year and month its period names (「2026年12月1日〜」), else now's."""
    period = unicodedata.normalize("NFKC", values.get("report_period", "")) if template.monthly else ""
    match = MONTH_IN_TEXT.search(period)
    if match and 1 <= int(match[2]) <= 12:
        return int(match[1]), int(match[2])
    return now.year, now.month


def filename(template: DocumentTemplate, subject: Subject, values: Mapping[str, str], now: datetime) -> str:
    """「訪問看護報告書_2026-12_結.pdf」 (a report by the month it covers), 「訪問看護指示書_2026-12-03_結.pdf」 (the
    others by the day made): a plain name as timeline takes it (no folders, dots or hidden characters)."""
    title = words(f"documents.template.{template.key}")
    if template.monthly:
        year, month = covered_month(template, values, now)
        when = f"{year:04d}-{month:02d}"
    else:
        when = now.date().isoformat()
    return f"{title}_{when}_{family_name(subject)}.pdf"


def post_body(template: DocumentTemplate, values: Mapping[str, str], now: datetime) -> str:
    """「【訪問看護報告書】2026年12月分を作成しました（添付）」: what the attachment is, without opening it."""
    title = words(f"documents.template.{template.key}")
    if template.monthly:
        year, month = covered_month(template, values, now)
        return words("documents.post.monthly", title=title, year=year, month=month)
    return words("documents.post.dated", title=title, date=japanese_day(now.date()))


# --- the pages ----------------------------------------------------------------------------------------------


def _refused(request: Request, staff: StaffSession, refusal: ServiceProblem) -> Response:
    if refusal.session_ended:
        raise refusal
    if refusal.status == 410:
        return stopped_page(request, staff, TEMPLATE)
    return refusal_page(request, staff, refusal)


async def _author(identity: IdentityApi, staff: StaffSession) -> PersonRef:
    """The writer as the document names them: name, profession and facility (identity's profile; their name
    alone when identity cannot say)."""
    fallback = PersonRef(id=staff.user_id, name=staff.name, facility_id=staff.facility_id)
    try:
        profile = await identity.profile()
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        return fallback
    return PersonRef(
        id=profile.id,
        name=profile.name,
        name_kana=profile.name_kana,
        profession=profile.profession,
        facility_id=profile.facility_id,
        facility_name=profile.facility_name,
    )


async def _network_name(request: Request, tenant: str) -> str | None:
    async with single_statement_session(request.app) as session:
        state = await networks.state_of(session, tenant)
    return state.name if state else None


def _template(key: str) -> DocumentTemplate | None:
    return TEMPLATES.get(key[:40])


@router.get("/subjects/{subject_id}/documents", response_class=HTMLResponse)
async def choose_template(
    request: Request, subject_id: UUID, staff: Staff, consent: ConsentApi, timeline: TimelineApi
) -> Response:
    """Which document to make: four big buttons. Refused as the timeline is (outside the team, stopped)."""
    try:
        subject, _ = await gather(consent.subject(subject_id), timeline.summary(subject_id))
    except ServiceProblem as refusal:
        return _refused(request, staff, refusal)
    context = {"subject": subject, "stopped": support_stopped(subject), "templates": list(TEMPLATES.values())}
    return page(request, staff, "staff/documents.html", context)


async def _form_page(
    request: Request,
    staff: StaffSession,
    subject: Subject,
    template: DocumentTemplate,
    values: Mapping[str, str],
    *,
    errors: list[FormError] | None = None,
    drafted_from: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    lang = language_of(request)
    missing = undrawable(subject.model_dump_json() + "".join(values.values()))
    context = {
        "subject": subject,
        "stopped": support_stopped(subject),
        "template": template,
        "values": values,
        "replaced": ("、" if lang == "ja" else ", ").join(missing),
        "errors": [e.message(lang) for e in errors or []],
        "error_fields": {e.field for e in errors or []},
        "drafted_from": drafted_from or [],
    }
    return page(request, staff, "staff/documents_new.html", context, status_code)


@router.get("/subjects/{subject_id}/documents/new", response_class=HTMLResponse)
async def new_document(
    request: Request,
    subject_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    identity: IdentityApi,
    template: str = "",
) -> Response:
    """The chosen document's form, every box drafted from the patient, the summary, the medications, the vital
    signs (the last 30 days, or the report's month when longer) and the writer; all of it editable. An unknown template goes back to the choice."""
    chosen = _template(template)
    if chosen is None:
        return back(request, f"/subjects/{subject_id}/documents")
    try:
        subject, summary = await gather(consent.subject(subject_id), timeline.summary(subject_id))
    except ServiceProblem as refusal:
        return _refused(request, staff, refusal)
    if support_stopped(subject):
        return stopped_page(request, staff, TEMPLATE)
    now = datetime.now(DISPLAY_TIMEZONE)
    # The medications and the vital signs only help the draft: when timeline cannot give them (the medication
    # list not there yet among them), the boxes they would fill stay blank.
    medications, vitals, author = await gather(
        optional(timeline.medications(subject_id), None),
        optional(timeline.vitals(subject_id, vitals_days(now.date())), None),
        _author(identity, staff),
    )
    known = Known(
        subject=subject,
        summary=summary.content or SummaryContent(),
        medications=medications.items if medications else [],
        vitals=vitals.items if vitals else [],
        author=author,
        now=now,
    )
    sources = [
        key
        for key, present in (
            ("summary", summary.content is not None),
            ("medications", bool(known.medications)),
            ("vitals", bool(known.vitals)),
        )
        if present
    ]
    return await _form_page(request, staff, subject, chosen, draft(chosen, known), drafted_from=sources)


@router.post("/subjects/{subject_id}/documents/new", response_class=HTMLResponse)
async def make_document(
    request: Request,
    subject_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    identity: IdentityApi,
    template: str = "",
) -> Response:
    """The document as a PDF: posted to the subject's timeline as its attachment (the post saying what it is)
    and back to the timeline, or, with 「PDFを確認」, shown without posting. Boxes left blank or too long, or a
    document past two pages, show the form again as typed with what to correct (422)."""
    chosen = _template(template)
    if chosen is None:
        return back(request, f"/subjects/{subject_id}/documents")
    form = await request.form()
    values, errors = read_form(chosen, form)
    intent = form.get("intent")
    try:
        subject, author = await gather(consent.subject(subject_id), _author(identity, staff))
    except ServiceProblem as refusal:
        return _refused(request, staff, refusal)
    if support_stopped(subject):
        return stopped_page(request, staff, TEMPLATE)
    now = datetime.now(DISPLAY_TIMEZONE)
    document = build_document(
        chosen, subject, values, author, now, await _network_name(request, staff.tenant)
    )
    if not errors and await run_in_threadpool(pages_needed, document) > MAX_PAGES:
        errors.append(FormError("pages"))
    if errors:
        return await _form_page(request, staff, subject, chosen, values, errors=errors, status_code=422)
    pdf = await run_in_threadpool(draw_document, document)
    name = filename(chosen, subject, values, now)
    if intent == "preview":
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": "inline",
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )
    conversation = Conversation("subjects", subject_id)
    try:
        uploaded = await timeline.upload(conversation, filename=name, content=pdf)
        created = await timeline.post(
            conversation,
            body=post_body(chosen, values, now),
            category=category_for(chosen, author.profession),
            mentions=[],
            attachment_ids=[str(uploaded.id)],
        )
    except ServiceProblem as refusal:
        if refusal.session_ended or refusal.status not in (410, 413, 415, 422):
            raise
        if refusal.status == 410:
            return stopped_page(request, staff, TEMPLATE)
        refused = [FormError("refused")]
        return await _form_page(request, staff, subject, chosen, values, errors=refused, status_code=422)
    return back(request, f"/subjects/{subject_id}/timeline#post-{created.id}", done="document_created")
