"""A subject's hospital letters in the staff UI (rec5, 病院からの文書): the list with the upload form (a FHIR document
Bundle as a .json file, checked by timeline: a refusal shows the validator's reason), and one letter, section by
section, with its medications, allergies and problems each taken in or not with one button."""

from __future__ import annotations

import json
import unicodedata
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from portal.clients.base import ServiceProblem
from portal.clients.consent import ConsentClient, Subject
from portal.clients.timeline import TimelineClient
from portal.session import Staff, StaffSession
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
TEMPLATE = "staff/imports.html"
MAX_BYTES = 5 * 1024 * 1024  # timeline's limit: a larger file is refused here without sending it
DECIDED = {"offer-decided", "medication-already-imported"}


HIRAGANA = range(ord("\u3041"), ord("\u3096") + 1)  # ぁ..ゖ, each 0x60 below its katakana


def _folded(name: str) -> str:
    """A name as compared: NFKC (half-width ｶﾅ as カナ), hiragana as katakana, no spaces (consent folds kana so)."""
    folded = unicodedata.normalize("NFKC", name)
    return "".join(chr(ord(ch) + 0x60) if ord(ch) in HIRAGANA else ch for ch in folded if not ch.isspace())


def _patient_resource(document: object) -> dict[str, Any] | None:
    """The Bundle's Patient: the one its Composition's ``subject.reference`` names (by fullUrl or Patient/id),
    else the first Patient entry; None when there is none or the file is not shaped as a Bundle."""
    if not isinstance(document, dict) or not isinstance(document.get("entry"), list):
        return None
    entries = [e for e in document["entry"] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    patients = [e for e in entries if e["resource"].get("resourceType") == "Patient"]
    composition: dict[str, Any] = next(
        (e["resource"] for e in entries if e["resource"].get("resourceType") == "Composition"), {}
    )
    subject = composition.get("subject")
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if isinstance(reference, str):
        for entry in patients:
            patient_id = entry["resource"].get("id")
            local = f"Patient/{patient_id}" if isinstance(patient_id, str) else None
            if entry.get("fullUrl") == reference or (
                local and (reference == local or reference.endswith("/" + local))
            ):
                resource: dict[str, Any] = entry["resource"]
                return resource
    return patients[0]["resource"] if patients else None


def letter_patient(content: bytes) -> tuple[list[str], str | None] | None:
    """The names (kanji and kana, as written) and birth date of the Bundle's Patient, or None when the file does
    not say (timeline then judges the file itself). Any shape is read without failing: a value of the wrong
    type is skipped, and a file nested too deep to read is left to timeline."""
    try:
        patient = _patient_resource(json.loads(content))
    except (ValueError, RecursionError):
        return None
    if patient is None:
        return None
    names = []
    written = patient.get("name")
    for name in written if isinstance(written, list) else []:
        if not isinstance(name, dict):
            continue
        text = name.get("text")
        if not isinstance(text, str) or not text.strip():
            family = name.get("family")
            given = name.get("given")
            parts = [family if isinstance(family, str) else ""]
            parts += [g for g in given if isinstance(g, str)] if isinstance(given, list) else []
            text = " ".join(parts)
        if text.strip():
            names.append(text.strip())
    birth = patient.get("birthDate")
    return names, birth if isinstance(birth, str) else None


def same_patient(subject: Subject, names: list[str], birth: str | None) -> bool:
    """Whether the letter is made out to this subject: the birth date agrees (when both say one) and one of its
    names is the subject's name or kana, spaces and width aside. A letter for someone else is a mix-up to stop
    before its medications and allergies reach the wrong record."""
    if birth and subject.birth_date and birth[:10] != subject.birth_date.isoformat():
        return False
    ours = {_folded(subject.name), _folded(subject.name_kana)}
    return not names or any(_folded(n) in ours for n in names)


def _patient_words(names: list[str], birth: str | None) -> str:
    when = ""
    if birth:
        try:
            born = date.fromisoformat(birth[:10])
            when = f"（{born.year}年{born.month}月{born.day}日生）"
        except ValueError:
            when = f"（{birth}）"
    return "・".join(names) + when


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
            return stopped_page(request, staff, TEMPLATE)
        return refusal_page(request, staff, refusal)
    context = {"subject": subject, "stopped": support_stopped(subject), "letters": letters, "error": error}
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
    other_patient: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """The uploaded .json sent to timeline as it is: the letter's page on success; otherwise the list again
    with why (the validator's reason for a refused Bundle, or a letter made out to someone else, which is
    taken only when the uploader confirms it)."""
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
    found = letter_patient(content)
    if found is not None and other_patient != "yes":
        try:
            subject = await consent.subject(subject_id)
        except ServiceProblem as refusal:
            if refusal.session_ended:
                raise
            return refusal_page(request, staff, refusal)
        if not same_patient(subject, *found):
            return await _letters_page(
                request,
                staff,
                consent,
                timeline,
                subject_id,
                error={"key": "imports.error.other_patient", "reason": _patient_words(*found)},
                status_code=422,
            )
    try:
        letter = await timeline.import_hospital_letter(
            subject_id, content, patient_mismatch_confirmed=other_patient == "yes"
        )
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        if refusal.status == 410:
            return stopped_page(request, staff, TEMPLATE)
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
            return stopped_page(request, staff, TEMPLATE)
        return refusal_page(request, staff, refusal)
    context = {"subject": subject, "stopped": support_stopped(subject), "letter": letter}
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
            return stopped_page(request, staff, TEMPLATE)
        return refusal_page(request, staff, refusal)
    return back(request, target, done="offer_accepted" if accept else "offer_declined")
