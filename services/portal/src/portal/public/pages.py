"""Pages of the public site, the terms acceptance page and the facility forms (apply, change, withdraw)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from uuid import UUID

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, StringConstraints
from yui_common.db import DbSession
from yui_common.problems import Problem, not_found
from yui_common.reference_numbers import reference_number
from yui_common.vocabulary import FACILITY_KINDS, facility_kind_label
from yui_common.web import language_of, render

from portal.clients.base import ServiceProblem
from portal.clients.identity import (
    DirectoryEntry,
    Facility,
    FacilityApplicationRequest,
    FacilityChange,
    IdentityClient,
    Publication,
    PublicationChange,
)
from portal.notices import service as notices
from portal.public import inquiries
from portal.public.forms import check_public_csrf, csrf_token, parse_form, set_csrf_cookie
from portal.public.hours import LOCAL_TIME, SupportHours, closed_period_label
from portal.public.networks import public_network
from portal.session import CSRF_FIELD, StaffSession, current_staff, require_staff

router = APIRouter(tags=["public"], include_in_schema=False)
TENANT = re.compile(r"^[a-z0-9-]{1,63}$")
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def public_tenant(request: Request, staff: StaffSession | None) -> str:
    """The network whose public site this is: the one of /n/<slug>/ or the host (public/networks.py), else the
    signed-in member's, else ?tenant=, else the default network."""
    chosen = public_network(request)
    if chosen is not None:
        return chosen
    if staff is not None:
        return staff.tenant
    wanted = request.query_params.get("tenant", "")
    default: str = request.app.state.settings.default_tenant
    return wanted if TENANT.match(wanted) else default


def page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    lang = language_of(request)
    shared = {"kind_label": lambda code: facility_kind_label(code, lang)}
    response = render(request, template, {**shared, **context}, status_code=status_code)
    set_csrf_cookie(request, response)
    return response


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme), so the redirect cannot leave Yui."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/staff/"


# --- overview, joining, notices, terms (P1, P2, P3) ---------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: DbSession) -> HTMLResponse:
    staff = await current_staff(request)
    tenant = public_tenant(request, staff)
    latest = (await notices.visible_notices(session, tenant=tenant, viewer=staff))[:5]
    return page(request, "home.html", {"notices": latest, "staff": staff, "tenant": tenant})


@router.get("/join", response_class=HTMLResponse)
async def join(request: Request) -> HTMLResponse:
    return page(request, "public/join.html", {})


@router.get("/notices", response_class=HTMLResponse)
async def notice_list(request: Request, session: DbSession) -> HTMLResponse:
    staff = await current_staff(request)
    tenant = public_tenant(request, staff)
    rows = await notices.visible_notices(session, tenant=tenant, viewer=staff)
    return page(request, "public/notices.html", {"notices": rows, "staff": staff})


@router.get("/notices/{notice_id}", response_class=HTMLResponse)
async def notice_detail(notice_id: UUID, request: Request, session: DbSession) -> HTMLResponse:
    staff = await current_staff(request)
    row = await notices.visible_notice(
        session, tenant=public_tenant(request, staff), viewer=staff, notice_id=notice_id
    )
    return page(request, "public/notice.html", {"notice": row})


@router.get("/terms", response_class=HTMLResponse)
async def terms_list(request: Request, session: DbSession) -> HTMLResponse:
    staff = await current_staff(request)
    rows = await notices.terms_versions(session, tenant=public_tenant(request, staff))
    moment = notices.now()
    in_effect = _in_effect(rows, moment)
    return page(request, "public/terms_list.html", {"versions": rows, "in_effect": in_effect, "now": moment})


def _in_effect(rows: Any, moment: Any) -> Any:
    """The terms version in effect now (the newest whose date has come), None before any."""
    return next((r for r in rows if r.effective_at <= moment), None)


@router.get("/terms/accept", response_class=HTMLResponse)
async def terms_accept_page(request: Request, session: DbSession) -> Response:
    staff = await require_staff(request)
    pending = await notices.pending_terms(session, actor=staff)
    target = safe_next(request.query_params.get("next"))
    if pending is None:
        return RedirectResponse(target, status_code=303)
    return page(request, "public/terms_accept.html", {"terms": pending, "next": target, "csrf": staff.csrf})


@router.post("/terms/accept")
async def terms_accept(request: Request, session: DbSession) -> Response:
    staff = await require_staff(request)  # checks the session's CSRF token too
    form = await request.form()
    version = str(form.get("version", ""))
    if form.get("agree") != "yes":
        pending = await notices.pending_terms(session, actor=staff)
        if pending is None:
            return RedirectResponse(safe_next(str(form.get("next", ""))), status_code=303)
        context = {
            "terms": pending,
            "next": safe_next(str(form.get("next", ""))),
            "csrf": staff.csrf,
            "error": "terms.error.must_agree",
        }
        return page(request, "public/terms_accept.html", context, status_code=422)
    await notices.accept_terms(session, actor=staff, version=version)
    return RedirectResponse(safe_next(str(form.get("next", ""))), status_code=303)


@router.get("/terms/{version}", response_class=HTMLResponse)
async def terms_detail(version: str, request: Request, session: DbSession) -> HTMLResponse:
    staff = await current_staff(request)
    row = await notices.terms_version(session, tenant=public_tenant(request, staff), version=version)
    return page(request, "public/terms.html", {"terms": row})


# --- the facility directory (P1) ----------------------------------------------------------------------------


@router.get("/directory", response_class=HTMLResponse)
async def directory(request: Request) -> HTMLResponse:
    staff = await current_staff(request)
    tenant = public_tenant(request, staff)
    search = {k: request.query_params.get(k, "").strip()[:100] for k in ("name", "kind", "address")}
    entries: list[DirectoryEntry] = []
    unavailable = False
    try:
        entries = (await IdentityClient(request).directory(tenant=tenant, search=search)).entries
    except ServiceProblem as problem:
        unavailable = problem.status != 404  # an unknown network lists nobody
    except httpx.HTTPError:
        unavailable = True
    return page(
        request,
        "public/directory.html",
        {
            "entries": entries,
            "search": search,
            "kinds": FACILITY_KINDS,
            "unavailable": unavailable,
            "tenant": tenant,
        },
        status_code=503 if unavailable else 200,
    )


# --- inquiries (P5) -----------------------------------------------------------------------------------------


async def _inquiry_context(request: Request, session: DbSession, tenant: str) -> dict[str, Any]:
    settings = await notices.settings_of(session, tenant)
    lang = language_of(request)
    hours = SupportHours.of(settings)
    moment = notices.now()
    next_opening = hours.next_opening(moment)
    return {
        "settings": settings,
        "within_hours": hours.is_within(moment),
        "next_opening": next_opening.astimezone(LOCAL_TIME) if next_opening else None,
        "weekday_keys": [f"public.weekday.{d}" for d in sorted(settings.support_weekdays)],
        # 「12月29日〜1月3日」, not the stored "12-29..01-03".
        "closed_periods": [closed_period_label(p, lang) for p in settings.support_closed_periods],
        "tenant": tenant,
        "csrf": csrf_token(request),
        "values": {},
        "errors": {},
    }


@router.get("/inquiries", response_class=HTMLResponse)
async def inquiry_form(request: Request, session: DbSession) -> HTMLResponse:
    staff = await current_staff(request)
    context = await _inquiry_context(request, session, public_tenant(request, staff))
    return page(request, "public/inquiry.html", context)


@router.post("/inquiries", response_class=HTMLResponse)
async def send_inquiry(request: Request, session: DbSession) -> HTMLResponse:
    form = await request.form()
    check_public_csrf(request, _str(form.get(CSRF_FIELD)))
    staff = await current_staff(request)
    tenant = public_tenant(request, staff)
    values = {k: _str(form.get(k)) or "" for k in ("name", "email", "organisation", "subject", "body")}
    parsed, errors = parse_form(inquiries.InquiryCreate, values)
    if parsed is None:
        context = await _inquiry_context(request, session, tenant)
        context.update(values=values, errors=errors)
        return page(request, "public/inquiry.html", context, status_code=422)
    assert isinstance(parsed, inquiries.InquiryCreate)
    row = await inquiries.receive(
        session, tenant=tenant, inquiry=parsed, user_id=staff.user_id if staff else None
    )
    return page(
        request,
        "public/inquiry_sent.html",
        {"inquiry": row, "expected": row.answer_expected_from.astimezone(LOCAL_TIME)},
        status_code=201,
    )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --- online forms: facility application, change, withdrawal (P6) --------------------------------------------


class ApplicationForm(BaseModel):
    """What the portal checks before it sends the application to identity (identity checks it again)."""

    model_config = ConfigDict(extra="forbid")
    name: Text200
    kind: Literal[FACILITY_KINDS]  # type: ignore[valid-type]
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9+()\- ]{6,40}$")]
    administrator_name: Text200
    administrator_email: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    ]
    administrator_login_id: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9._@-]{3,64}$")
    ]
    pledge_accepted: Literal[True]


APPLICATION_FIELDS = (
    "name",
    "kind",
    "address",
    "phone",
    "administrator_name",
    "administrator_email",
    "administrator_login_id",
)


async def _application_context(
    request: Request, session: DbSession, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    # The pledge names the terms in effect; with none published the form says so instead of asking the
    # applicant to accept terms nobody can read.
    tenant = public_tenant(request, await current_staff(request))
    terms = _in_effect(await notices.terms_versions(session, tenant=tenant), notices.now())
    return {
        "values": values,
        "errors": errors,
        "kinds": FACILITY_KINDS,
        "csrf": csrf_token(request),
        "terms": terms,
    }


@router.get("/forms/facility-application", response_class=HTMLResponse)
async def application_form(request: Request, session: DbSession) -> HTMLResponse:
    return page(request, "public/application.html", await _application_context(request, session, {}, {}))


@router.post("/forms/facility-application", response_class=HTMLResponse)
async def send_application(request: Request, session: DbSession) -> HTMLResponse:
    form = await request.form()
    check_public_csrf(request, _str(form.get(CSRF_FIELD)))
    staff = await current_staff(request)
    values: dict[str, Any] = {k: _str(form.get(k)) or "" for k in APPLICATION_FIELDS}
    values["pledge_accepted"] = form.get("pledge_accepted") == "yes"
    parsed, errors = parse_form(
        ApplicationForm, {**values, "pledge_accepted": values["pledge_accepted"] or None}
    )
    if parsed is None:
        context = await _application_context(request, session, values, errors)
        return page(request, "public/application.html", context, 422)
    application = FacilityApplicationRequest(**parsed.model_dump(), tenant=public_tenant(request, staff))
    try:
        application_id = await IdentityClient(request).apply_for_facility(application)
    except httpx.HTTPError:
        context = await _application_context(request, session, values, {"form": "public.error.unavailable"})
        return page(request, "public/application.html", context, 503)
    except ServiceProblem as problem:
        status, errors = _application_refused(problem)
        context = await _application_context(request, session, values, errors)
        return page(request, "public/application.html", context, status)
    sent = {
        "facility_name": parsed.model_dump()["name"],
        "email": parsed.model_dump()["administrator_email"],
        # 受付番号: what the applicant quotes when they contact the operator, who finds the application by it.
        "reference": reference_number(application_id) if application_id else None,
    }
    return page(request, "public/application_sent.html", sent, 202)


def _application_refused(problem: ServiceProblem) -> tuple[int, dict[str, str]]:
    """Identity's refusal of an application as the form's errors, and the status the page answers with."""
    if problem.status == 409:
        return 409, {"administrator_login_id": "public.error.login_id_taken"}
    if problem.status == 422:
        fields = {
            str(e["location"][-1]): "public.error.invalid"
            for e in problem.extensions.get("errors", [])
            if e["location"]
        }
        return 422, fields or {"form": "public.error.invalid"}
    return 502, {"form": "public.error.unavailable"}


class ChangeForm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text200
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9+()\- ]{6,40}$")]
    administrator_name: Text200
    administrator_email: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    ]


CHANGE_FIELDS = ("name", "address", "phone", "administrator_name", "administrator_email")
PUBLICATION_FIELDS = ("listed", "publish_name", "publish_address", "publish_contact", "publish_status")


async def _facility_admin(request: Request) -> StaffSession:
    staff = await require_staff(request)
    if not staff.has_role("facility_admin"):
        raise Problem(403, "forbidden", "Forbidden", "Only the facility's administrator sends this form.")
    return staff


async def _load_facility(identity: IdentityClient, staff: StaffSession) -> tuple[Facility, Publication]:
    try:
        return await identity.facility(staff.facility_id), await identity.publication(staff.facility_id)
    except ServiceProblem as problem:
        if problem.status in (403, 404):
            # Identity shows this token no such facility (ten2): the one 404, not "identity unavailable".
            raise not_found("facility") from problem
        raise Problem(
            502, "upstream", "Identity unavailable", "The facility's entry could not be read."
        ) from problem


@router.get("/forms/facility-change", response_class=HTMLResponse)
async def change_form(request: Request) -> HTMLResponse:
    staff = await _facility_admin(request)
    facility, publication = await _load_facility(IdentityClient(request, staff.token), staff)
    values = {k: getattr(facility, k) or "" for k in CHANGE_FIELDS}
    context = {"values": values, "publication": publication, "errors": {}, "csrf": staff.csrf, "saved": False}
    return page(request, "public/facility_change.html", context)


@router.post("/forms/facility-change", response_class=HTMLResponse)
async def send_change(request: Request) -> HTMLResponse:
    staff = await _facility_admin(request)  # checks the session's CSRF token
    form = await request.form()
    values: dict[str, Any] = {k: _str(form.get(k)) or "" for k in CHANGE_FIELDS}
    publication = Publication.model_validate({k: form.get(k) == "yes" for k in PUBLICATION_FIELDS})
    parsed, errors = parse_form(ChangeForm, values)
    context = {
        "values": values,
        "publication": publication,
        "errors": errors,
        "csrf": staff.csrf,
        "saved": False,
    }
    if parsed is None:
        return page(request, "public/facility_change.html", context, 422)
    # The profile and what of it is published change together or not at all (one request, one transaction).
    changes = FacilityChange(
        **parsed.model_dump(),
        publication=PublicationChange(**publication.model_dump(include=set(PUBLICATION_FIELDS))),
    )
    try:
        await IdentityClient(request, staff.token).change_facility(staff.facility_id, changes)
    except ServiceProblem:
        context["errors"] = {"form": "public.error.rejected"}
        return page(request, "public/facility_change.html", context, 409)
    context.update(saved=True)
    return page(request, "public/facility_change.html", context)


@router.get("/forms/facility-withdrawal", response_class=HTMLResponse)
async def withdrawal_form(request: Request) -> HTMLResponse:
    staff = await _facility_admin(request)
    facility, _ = await _load_facility(IdentityClient(request, staff.token), staff)
    return page(
        request, "public/facility_withdrawal.html", {"facility": facility, "csrf": staff.csrf, "errors": {}}
    )


@router.post("/forms/facility-withdrawal", response_class=HTMLResponse)
async def send_withdrawal(request: Request) -> HTMLResponse:
    staff = await _facility_admin(request)
    identity = IdentityClient(request, staff.token)
    form = await request.form()
    if form.get("confirm") != "yes":
        facility, _ = await _load_facility(identity, staff)
        context = {"facility": facility, "csrf": staff.csrf, "errors": {"confirm": "public.error.must_agree"}}
        return page(request, "public/facility_withdrawal.html", context, 422)
    try:
        withdrawn = await identity.withdraw_facility(staff.facility_id)
    except ServiceProblem:
        facility, _ = await _load_facility(identity, staff)
        context = {"facility": facility, "csrf": staff.csrf, "errors": {"form": "public.error.rejected"}}
        return page(request, "public/facility_withdrawal.html", context, 409)
    return page(request, "public/facility_withdrawn.html", {"facility": withdrawn})
