"""Subjects: the working list (support stopped on request), registration (duplicate check, the network's
municipalities), consent and its scan, the care team (colleagues found by name in identity's directory),
withdrawal, special access."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, cast
from uuid import UUID

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from yui_common.web import language_of

from portal.clients.base import ServiceProblem
from portal.clients.consent import (
    ConsentClient,
    ConsentRecord,
    SubjectRegistration,
    WithdrawalRequest,
    duplicate_candidates,
)
from portal.session import Staff, StaffSession
from portal.staff.colleagues import colleague_search, uuid_or_none
from portal.staff.pages import ConsentApi, IdentityApi, back, gather, optional, page, relay_file
from portal.staff.referrals import ReferralApi, referral_section

router = APIRouter(prefix="/staff")
SEXES = ("female", "male", "other", "unknown")
GROUNDS = ("disaster", "abuse_or_violence", "lost_capacity_no_family", "other_emergency")
FORM_TYPES = "application/pdf,image/jpeg,image/png"
STATUS_FILTERS = ("active", "support_stopped", "all")


def _blank(value: str) -> str | None:
    value = value.strip()
    return value or None


@router.get("/subjects", response_class=HTMLResponse)
async def subjects(
    request: Request, staff: Staff, consent: ConsentApi, kana: str = "", status: str = "active"
) -> Response:
    """The working list: subjects still supported; 支援停止 and すべて on request, each stopped one marked."""
    chosen = cast(
        Literal["active", "support_stopped", "all"], status if status in STATUS_FILTERS else "active"
    )
    found = await consent.subjects(kana=kana.strip()[:200], status=chosen, limit=200)
    context = {"subjects": found, "kana": kana, "status": chosen, "filters": STATUS_FILTERS}
    return page(request, staff, "staff/subjects.html", context)


async def _registration_page(
    request: Request,
    staff: StaffSession,
    consent: ConsentClient,
    values: dict[str, Any],
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    # The network's municipalities: its only one is filled in, several are offered by name (C1).
    municipalities = await optional(consent.municipalities(), [])
    if len(municipalities) == 1 and not values.get("municipality_code"):
        values = {**values, "municipality_code": municipalities[0].municipality_code}
    context = {
        "values": values,
        "sexes": SEXES,
        "form_types": FORM_TYPES,
        "today": date.today().isoformat(),
        "municipalities": municipalities,
    }
    return page(request, staff, "staff/subject_new.html", {**context, **extra}, status_code=status_code)


@router.get("/subjects/new", response_class=HTMLResponse)
async def registration_form(request: Request, staff: Staff, consent: ConsentApi) -> Response:
    return await _registration_page(request, staff, consent, {"given_by": "subject"})


async def _store_consent_form(
    consent: ConsentClient, subject_id: UUID, consent_id: UUID, form: UploadFile
) -> None:
    await consent.store_consent_form(
        subject_id,
        consent_id,
        filename=form.filename or "consent",
        content=await form.read(),
        content_type=form.content_type or "application/octet-stream",
    )


def _consent_body(given_by: str, proxy_name: str, proxy_relation: str, given_on: str) -> ConsentRecord:
    on = given_on or date.today().isoformat()
    if given_by == "proxy":
        return ConsentRecord(
            given_by="proxy",
            given_on=on,
            proxy_name=_blank(proxy_name),
            proxy_relation=_blank(proxy_relation),
        )
    return ConsentRecord(given_by="subject", given_on=on)


@router.post("/subjects/new", response_class=HTMLResponse)
async def register(
    request: Request,
    staff: Staff,
    consent: ConsentApi,
    name: Annotated[str, Form(max_length=200)],
    name_kana: Annotated[str, Form(max_length=200)],
    municipality_code: Annotated[str, Form(max_length=6)],
    birth_date: Annotated[str, Form(max_length=10)] = "",
    sex: Annotated[str, Form(max_length=10)] = "",
    postal_code: Annotated[str, Form(max_length=8)] = "",
    address: Annotated[str, Form(max_length=400)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    given_by: Annotated[str, Form(max_length=10)] = "subject",
    proxy_name: Annotated[str, Form(max_length=200)] = "",
    proxy_relation: Annotated[str, Form(max_length=100)] = "",
    given_on: Annotated[str, Form(max_length=10)] = "",
    confirm_not_duplicate: Annotated[bool, Form()] = False,
    consent_form: Annotated[UploadFile | None, File()] = None,
) -> Response:
    values = {
        "name": name,
        "name_kana": name_kana,
        "municipality_code": municipality_code,
        "birth_date": birth_date,
        "sex": sex,
        "postal_code": postal_code,
        "address": address,
        "phone": phone,
        "given_by": given_by,
        "proxy_name": proxy_name,
        "proxy_relation": proxy_relation,
        "given_on": given_on,
    }
    registration = SubjectRegistration(
        name=name.strip(),
        name_kana=name_kana.strip(),
        municipality_code=municipality_code.strip(),
        confirm_not_duplicate=confirm_not_duplicate,
        birth_date=_blank(birth_date),
        postal_code=_blank(postal_code),
        address=_blank(address),
        phone=_blank(phone),
        sex=sex if sex in SEXES else None,
    )
    try:
        subject = await consent.register(registration)
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        if refusal.status == 409:
            # c9: likely the same person; show the candidates and let the registrar confirm it is not.
            candidates = duplicate_candidates(refusal)
            return await _registration_page(
                request, staff, consent, values, status_code=409, candidates=candidates
            )
        return await _registration_page(
            request, staff, consent, values, status_code=refusal.status, refusal=refusal
        )
    subject_id = subject.id
    try:
        await _record_consent(
            consent, subject_id, given_by, proxy_name, proxy_relation, given_on, consent_form
        )
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        # The subject is registered; their page offers to record the consent again.
        return back(request, f"/subjects/{subject_id}", done="consent_not_recorded")
    return back(request, f"/subjects/{subject_id}", done="registered")


async def _record_consent(
    consent: ConsentClient,
    subject_id: UUID,
    given_by: str,
    proxy_name: str,
    proxy_relation: str,
    given_on: str,
    consent_form: UploadFile | None,
) -> None:
    """The consent, then its scanned form (when one was chosen); a refusal raises ServiceProblem."""
    recorded = await consent.record_consent(
        subject_id, _consent_body(given_by, proxy_name, proxy_relation, given_on)
    )
    if consent_form is not None and consent_form.filename:
        await _store_consent_form(consent, subject_id, recorded.id, consent_form)


async def _subject_context(consent: ConsentClient, subject_id: UUID) -> dict[str, Any]:
    subject = await consent.subject(subject_id)
    consents, team, invitations, withdrawals = await gather(
        optional(consent.consents(subject_id), []),
        optional(consent.care_team(subject_id), []),
        optional(consent.pending_invitations(subject_id), []),
        optional(consent.withdrawals(subject_id), []),
    )
    return {
        "subject": subject,
        "consents": consents,
        "team": team,
        "invitations": invitations,
        "withdrawals": withdrawals,
        "form_types": FORM_TYPES,
        "today": date.today().isoformat(),
    }


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
async def subject_page(
    request: Request,
    subject_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    identity: IdentityApi,
    referrals: ReferralApi,
    q: Annotated[str, Query(max_length=100)] = "",
    facility_id: Annotated[str, Query(max_length=36)] = "",
    profession: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    context = await _subject_context(consent, subject_id)
    # Those already on the team or invited are not offered again.
    on_team = {m.user_id for m in context["team"]} | {i.user_id for i in context["invitations"]}
    search = await colleague_search(
        identity,
        q=q,
        facility_id=facility_id,
        profession=profession,
        lang=language_of(request),
        exclude=on_team,
    )
    context.update(search)
    # 他地域への紹介 (issue 12): the subject's referrals to peer networks, and where they may be referred.
    context.update(await referral_section(request, referrals, subject_id, context["consents"]))
    return page(request, staff, "staff/subject.html", context)


@router.post("/subjects/{subject_id}/consents", response_class=HTMLResponse)
async def record_consent(
    request: Request,
    subject_id: UUID,
    consent: ConsentApi,
    given_by: Annotated[str, Form(max_length=10)] = "subject",
    proxy_name: Annotated[str, Form(max_length=200)] = "",
    proxy_relation: Annotated[str, Form(max_length=100)] = "",
    given_on: Annotated[str, Form(max_length=10)] = "",
    consent_form: Annotated[UploadFile | None, File()] = None,
) -> Response:
    await _record_consent(consent, subject_id, given_by, proxy_name, proxy_relation, given_on, consent_form)
    return back(request, f"/subjects/{subject_id}", done="consent_recorded")


@router.post("/subjects/{subject_id}/consents/{consent_id}/form", response_class=HTMLResponse)
async def upload_consent_form(
    request: Request,
    subject_id: UUID,
    consent_id: UUID,
    consent: ConsentApi,
    consent_form: Annotated[UploadFile, File()],
) -> Response:
    await _store_consent_form(consent, subject_id, consent_id, consent_form)
    return back(request, f"/subjects/{subject_id}", done="form_stored")


@router.get("/subjects/{subject_id}/consents/{consent_id}/form")
async def download_consent_form(
    request: Request, subject_id: UUID, consent_id: UUID, staff: Staff, consent: ConsentApi
) -> Response:
    """The scanned form, streamed from consent, which checks the care team and withdrawal on each fetch."""
    upstream = await consent.open_consent_form(subject_id, consent_id)
    return await relay_file(request, staff, upstream)


@router.post("/subjects/{subject_id}/care-team", response_class=HTMLResponse)
async def invite_member(
    request: Request,
    subject_id: UUID,
    consent: ConsentApi,
    user_id: Annotated[UUID, Form()],
) -> Response:
    """Invite the colleague picked from the directory (their id travels in a hidden field, never shown)."""
    await consent.invite_to_care_team(subject_id, user_id=user_id, facility_id=None)
    return back(request, f"/subjects/{subject_id}#team-h", done="invited")


@router.post("/subjects/{subject_id}/care-team/{user_id}/removal", response_class=HTMLResponse)
async def remove_member(
    request: Request, subject_id: UUID, user_id: UUID, staff: Staff, consent: ConsentApi
) -> Response:
    await consent.remove_from_care_team(subject_id, user_id)
    if user_id == staff.user_id:
        return back(request, "", done="left_team")
    return back(request, f"/subjects/{subject_id}", done="removed")


@router.post("/invitations/{invitation_id}/{answer}", response_class=HTMLResponse)
async def answer_invitation(
    request: Request, invitation_id: UUID, answer: str, consent: ConsentApi
) -> Response:
    if answer != "accept" and answer != "decline":
        return back(request, "")
    await consent.answer_invitation(invitation_id, cast(Literal["accept", "decline"], answer))
    return back(request, "", done="accepted" if answer == "accept" else "declined")


@router.post("/subjects/{subject_id}/withdrawals", response_class=HTMLResponse)
async def withdraw(
    request: Request,
    subject_id: UUID,
    consent: ConsentApi,
    requested_by: Annotated[str, Form(max_length=10)] = "subject",
    requester_name: Annotated[str, Form(max_length=200)] = "",
    requester_relation: Annotated[str, Form(max_length=100)] = "",
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    if not confirmed:
        return back(request, f"/subjects/{subject_id}", done="confirm_withdrawal")
    if requested_by == "proxy":
        withdrawal = WithdrawalRequest(
            requested_by="proxy",
            requester_name=_blank(requester_name),
            requester_relation=_blank(requester_relation),
        )
    else:
        withdrawal = WithdrawalRequest(requested_by="subject")
    await consent.withdraw(subject_id, withdrawal)
    return back(request, f"/subjects/{subject_id}", done="withdrawn")


@router.get("/subjects/{subject_id}/withdrawals", response_class=HTMLResponse)
async def withdrawal_progress(
    request: Request, subject_id: UUID, staff: Staff, consent: ConsentApi
) -> Response:
    """The cascade's progress per service (htmx polls this fragment until every service reported done)."""
    withdrawals = await optional(consent.withdrawals(subject_id), [])
    return page(
        request,
        staff,
        "staff/withdrawal_progress.html",
        {"withdrawals": withdrawals, "subject_id": subject_id},
    )


@router.get("/exceptional-access", response_class=HTMLResponse)
async def exceptional_access(
    request: Request,
    staff: Staff,
    consent: ConsentApi,
    subject_id: Annotated[str, Query(max_length=36)] = "",
) -> Response:
    """The request page; with a ``subject_id`` (an older link) it asks about that patient without naming them."""
    mine = await optional(consent.my_exceptional_access(), [])
    chosen = uuid_or_none(subject_id)
    context = {
        "requests": mine,
        "grounds": GROUNDS,
        "subject_id": str(chosen) if chosen else "",
    }
    return page(request, staff, "staff/exceptional_access.html", context)


@router.post("/exceptional-access/found", response_class=HTMLResponse)
async def exceptional_access_for_found(
    request: Request,
    staff: Staff,
    consent: ConsentApi,
    found: Annotated[str, Form(max_length=36)],
) -> Response:
    """The registration's duplicate check names the patient it found (kana and birth date) on a button that
    posts here, so the request page can name them too without a name or birth date in a URL, which browsers
    and logs keep. The id travels hidden, never shown or asked for."""
    chosen = uuid_or_none(found)
    form = await request.form()
    kana = str(form.get(f"found_kana.{chosen}", ""))[:200].strip() if chosen else ""
    born = str(form.get(f"found_born.{chosen}", ""))[:10].strip() if chosen else ""
    context = {
        "requests": await optional(consent.my_exceptional_access(), []),
        "grounds": GROUNDS,
        "subject_id": str(chosen) if chosen else "",
        "found_kana": kana,
        "found_birth_date": born,
    }
    return page(request, staff, "staff/exceptional_access.html", context)


@router.post("/exceptional-access", response_class=HTMLResponse)
async def request_exceptional_access(
    request: Request,
    consent: ConsentApi,
    subject_id: Annotated[UUID, Form()],
    ground: Annotated[str, Form(max_length=40)],
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    await consent.request_exceptional_access(subject_id=subject_id, ground=ground, reason=reason.strip())
    return back(request, "/exceptional-access", done="access_requested")
