"""The contractor's console under /admin/platform (server-rendered, Japanese first): sign-in and first sign-in,
the networks, creating one, suspending (after a confirmation) and resuming.

Signed in by a form that sets a platform token (audience ``yui-platform``, see identity.platform.service) as an
HttpOnly, Secure, SameSite=Strict cookie; form posts must also come from our own origin.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from yui_common.db import DbSession
from yui_common.problems import Problem
from yui_common.web import render

from identity.admin.pages import same_origin
from identity.models import PlatformAccount
from identity.platform import service
from identity.platform.schemas import NetworkCreate

PLATFORM_COOKIE = "yui_platform"
router = APIRouter(prefix="/admin/platform", tags=["platform"], include_in_schema=False)


async def signed_in_contractor(request: Request, session: DbSession) -> PlatformAccount | None:
    token = request.cookies.get(PLATFORM_COOKIE)
    if not token:
        return None
    return await service.account_of_token(session, settings=request.app.state.settings, token=token)


Contractor = Annotated[PlatformAccount | None, Depends(signed_in_contractor)]


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _to(request: Request, path: str = "") -> RedirectResponse:
    return RedirectResponse(f"{_root(request)}/admin/platform{path}", status_code=303)


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    contractor: PlatformAccount | None,
    status: int = 200,
) -> HTMLResponse:
    response = render(
        request,
        template,
        {**context, "contractor_name": contractor.display_name if contractor else ""},
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _signed_in(request: Request, token: str) -> Response:
    response = _to(request)
    response.set_cookie(
        PLATFORM_COOKIE,
        token,
        max_age=service.PLATFORM_TOKEN_TTL_S,
        httponly=True,
        secure=True,
        samesite="strict",
        path="/",
    )
    return response


# --- signing in ---------------------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def networks_page(request: Request, contractor: Contractor, session: DbSession) -> Response:
    if contractor is None:
        return _page(request, "platform_login.html", {"message": None}, None)
    found = await service.list_networks(session)
    return _page(
        request,
        "platform_networks.html",
        {"networks": found, "done": request.query_params.get("done")},
        contractor,
    )


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    session: DbSession,
    login_id: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    totp_code: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    if not same_origin(request):
        return _to(request)
    outcome = await service.sign_in(
        session, login_id=login_id, password=password, totp_code=totp_code.replace(" ", "")
    )
    if isinstance(outcome, Problem):
        if outcome.slug == "password-change-required":
            # The initial password is right: start the enrolment at once (the code confirms it below).
            started = await service.start_enrolment(
                session, settings=request.app.state.settings, login_id=login_id, password=password
            )
            if not isinstance(started, Problem):
                secret, uri = started
                return _page(
                    request,
                    "platform_first_sign_in.html",
                    {"login_id": login_id, "secret": secret, "uri": uri, "message": None},
                    None,
                )
        # Rendered, not raised: the failure's audit entry and count must commit.
        return _page(request, "platform_login.html", {"message": "failed"}, None, outcome.status)
    token = await service.platform_token(session, settings=request.app.state.settings, account=outcome)
    return _signed_in(request, token)


@router.post("/first-sign-in", response_class=HTMLResponse)
async def first_sign_in(
    request: Request,
    session: DbSession,
    login_id: Annotated[str, Form(max_length=64)],
    current_password: Annotated[str, Form(max_length=256)],
    new_password: Annotated[str, Form(max_length=256)],
    new_password_again: Annotated[str, Form(max_length=256)],
    totp_code: Annotated[str, Form(max_length=8)],
    secret: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    if not same_origin(request):
        return _to(request)
    context = {"login_id": login_id, "secret": secret, "uri": "", "message": None}
    if new_password != new_password_again:
        return _page(request, "platform_first_sign_in.html", {**context, "message": "mismatch"}, None, 422)
    outcome = await service.finish_first_sign_in(
        session,
        login_id=login_id,
        current_password=current_password,
        new_password=new_password,
        totp_code=totp_code.replace(" ", ""),
    )
    if isinstance(outcome, Problem):
        message = "rules" if outcome.slug in ("password-rules", "password-reused") else "failed"
        return _page(
            request, "platform_first_sign_in.html", {**context, "message": message}, None, outcome.status
        )
    token = await service.platform_token(session, settings=request.app.state.settings, account=outcome)
    return _signed_in(request, token)


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = _to(request)
    response.delete_cookie(PLATFORM_COOKIE, path="/")
    return response


# --- networks -----------------------------------------------------------------------------------------------

FORM_DEFAULTS: dict[str, Any] = {
    "slug": "",
    "name": "",
    "municipality_codes": "",
    "operator_office": "",
    "support_hours": "平日 9:00-17:00",
    "retention_years": 5,
    "discontinuation_notice_months": 3,
    "two_factor_policy": "totp_or_certificate",
    "directory_rule": "all",
    "max_attachment_mb": 100,
    "withdrawal_mode": "stop",
    "operator_login_id": "",
    "operator_name": "",
    "operator_name_kana": "",
}


@router.get("/networks/new", response_class=HTMLResponse)
async def new_network_form(request: Request, contractor: Contractor) -> Response:
    if contractor is None:
        return _to(request)
    return _page(request, "platform_network_form.html", {"values": FORM_DEFAULTS, "errors": []}, contractor)


@router.post("/networks", response_class=HTMLResponse)
async def create_network(request: Request, contractor: Contractor, session: DbSession) -> Response:
    if contractor is None or not same_origin(request):
        return _to(request)
    form = await request.form()
    values = {name: str(form.get(name, default)).strip() for name, default in FORM_DEFAULTS.items()}
    fields: dict[str, Any] = {
        **values,
        "municipality_codes": re.split(r"[\s,、，]+", values["municipality_codes"]),
    }
    fields["municipality_codes"] = [c for c in fields["municipality_codes"] if c]
    fields["operator_name_kana"] = values["operator_name_kana"] or None
    errors: list[str] = []
    try:
        data = NetworkCreate.model_validate(fields)
    except ValidationError as exc:
        errors = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        return _page(
            request, "platform_network_form.html", {"values": values, "errors": errors}, contractor, 422
        )
    try:
        created = await service.create_network(session, actor=f"platform:{contractor.id}", data=data)
    except Problem as problem:
        return _page(
            request,
            "platform_network_form.html",
            {"values": values, "errors": [], "problem": problem},
            contractor,
            problem.status,
        )
    return _page(request, "platform_network_created.html", {"created": created}, contractor, 201)


@router.get("/networks/{slug}", response_class=HTMLResponse)
async def network_page(slug: str, request: Request, contractor: Contractor, session: DbSession) -> Response:
    if contractor is None:
        return _to(request)
    network = await service.network_detail(session, slug)
    return _page(
        request,
        "platform_network.html",
        {"network": network, "done": request.query_params.get("done")},
        contractor,
    )


@router.post("/networks/{slug}/suspension/confirmation", response_class=HTMLResponse)
async def confirm_suspension(
    slug: str,
    request: Request,
    contractor: Contractor,
    session: DbSession,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Suspending stops a whole network: the contractor sees what it does and confirms it."""
    if contractor is None or not same_origin(request):
        return _to(request)
    network = await service.network_detail(session, slug)
    if not reason.strip():
        return _page(
            request,
            "platform_network.html",
            {"network": network, "done": None, "missing_reason": True},
            contractor,
            422,
        )
    return _page(
        request, "platform_confirm_suspension.html", {"network": network, "reason": reason}, contractor
    )


@router.post("/networks/{slug}/suspension", response_class=HTMLResponse)
async def suspend(
    slug: str,
    request: Request,
    contractor: Contractor,
    session: DbSession,
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    confirmed: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    if contractor is None or not same_origin(request):
        return _to(request)
    if confirmed != "yes":
        return _to(request, f"/networks/{slug}")
    await service.suspend_network(session, actor=f"platform:{contractor.id}", slug=slug, reason=reason)
    return _to(request, f"/networks/{slug}?done=suspended")


@router.post("/networks/{slug}/resumption", response_class=HTMLResponse)
async def resume(slug: str, request: Request, contractor: Contractor, session: DbSession) -> Response:
    if contractor is None or not same_origin(request):
        return _to(request)
    await service.resume_network(session, actor=f"platform:{contractor.id}", slug=slug)
    return _to(request, f"/networks/{slug}?done=resumed")
