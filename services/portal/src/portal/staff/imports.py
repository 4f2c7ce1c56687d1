"""A subject's hospital letters in the staff UI (rec5, 病院からの文書): the list with the upload form (a FHIR document
Bundle as a .json file, checked by timeline: a refusal shows the validator's reason), and one letter, section by
section, with its medications, allergies and problems each taken in or not with one button."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from portal.clients.base import ServiceProblem
from portal.clients.consent import ConsentClient, Subject
from portal.clients.timeline import TimelineClient
from portal.session import Staff, StaffSession
from portal.staff.pages import ConsentApi, TimelineApi, back, gather, page, refusal_page

router = APIRouter(prefix="/staff")
MAX_BYTES = 5 * 1024 * 1024  # timeline's limit: a larger file is refused here without sending it
DECIDED = {"offer-decided", "medication-already-imported"}


def _stopped(subject: Subject) -> bool:
    return subject.status == "support_stopped" or subject.consent_status == "withdrawn"


def _stopped_page(request: Request, staff: StaffSession) -> Response:
    return page(request, staff, "staff/imports.html", {"subject": None, "stopped": True}, status_code=410)


async def _letters_page(
    request: Request,
    staff: StaffSession,
    consent: ConsentClient,
    timeline: TimelineClient,
    subject_id: UUID,
    *,
    error: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        subject, letters = await gather(consent.subject(subject_id), timeline.hospital_letters(subject_id))
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        if refusal.status == 410:
            return _stopped_page(request, staff)
        return refusal_page(request, staff, refusal)
    context = {"subject": subject, "stopped": _stopped(subject), "letters": letters, "error": error}
    return page(request, staff, "staff/imports.html", context, status_code=status_code)


@router.get("/subjects/{subject_id}/imports", response_class=HTMLResponse)
async def hospital_letters(
    request: Request, subject_id: UUID, staff: Staff, consent: ConsentApi, timeline: TimelineApi
) -> Response:
    """The subject's letters, newest first, each with its offers counted; the upload form above them."""
    return await _letters_page(request, staff, consent, timeline, subject_id)


@router.post("/subjects/{subject_id}/imports", response_class=HTMLResponse)
async def upload_letter(
    request: Request,
    subject_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    bundle: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """The uploaded .json sent to timeline as it is: the letter's page on success; otherwise the list again
    with why (the validator's reason for a refused Bundle)."""
    content = await bundle.read(MAX_BYTES + 1) if bundle is not None else b""
    if not content:
        return await _letters_page(
            request,
            staff,
            consent,
            timeline,
            subject_id,
            error={"key": "imports.error.none"},
            status_code=422,
        )
    if len(content) > MAX_BYTES:
        return await _letters_page(
            request,
            staff,
            consent,
            timeline,
            subject_id,
            error={"key": "imports.error.too_large"},
            status_code=413,
        )
    try:
        letter = await timeline.import_hospital_letter(subject_id, content)
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        if refusal.status == 410:
            return _stopped_page(request, staff)
        if refusal.status in (409, 413, 415, 422):
            error = {
                409: {"key": "imports.error.already"},
                413: {"key": "imports.error.too_large"},
                415: {"key": "imports.error.invalid", "reason": refusal.detail},
                422: {"key": "imports.error.invalid", "reason": refusal.detail},
            }[refusal.status]
            if refusal.status == 409 and refusal.slug != "bundle-already-imported":
                return refusal_page(request, staff, refusal)  # no consent yet
            return await _letters_page(
                request, staff, consent, timeline, subject_id, error=error, status_code=refusal.status
            )
        return refusal_page(request, staff, refusal)
    return back(request, f"/subjects/{subject_id}/imports/{letter.id}", done="letter_imported")


@router.get("/subjects/{subject_id}/imports/{import_id}", response_class=HTMLResponse)
async def hospital_letter(
    request: Request,
    subject_id: UUID,
    import_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
) -> Response:
    """One letter: who wrote it and when, its sections as text, and its offers with who decided each and when."""
    try:
        subject, letter = await gather(
            consent.subject(subject_id), timeline.hospital_letter(subject_id, import_id)
        )
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        if refusal.status == 410:
            return _stopped_page(request, staff)
        return refusal_page(request, staff, refusal)
    context = {"subject": subject, "stopped": _stopped(subject), "letter": letter}
    return page(request, staff, "staff/import.html", context)


@router.post(
    "/subjects/{subject_id}/imports/{import_id}/offers/{index}/{decision}", response_class=HTMLResponse
)
async def decide_offer(
    request: Request,
    subject_id: UUID,
    import_id: UUID,
    index: int,
    decision: Literal["accept", "decline"],
    staff: Staff,
    timeline: TimelineApi,
) -> Response:
    """「取り込む」 or 「取り込まない」: back to the letter at that offer, saying what happened."""
    accept = decision == "accept"
    target = f"/subjects/{subject_id}/imports/{import_id}#offer-{index}"
    try:
        await timeline.decide_letter_offer(subject_id, import_id, index, accept=accept)
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        if refusal.status == 409 and refusal.slug in DECIDED:
            return back(request, target, done="offer_decided")
        if refusal.status == 410:
            return _stopped_page(request, staff)
        return refusal_page(request, staff, refusal)
    return back(request, target, done="offer_accepted" if accept else "offer_declined")
