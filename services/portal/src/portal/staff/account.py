"""One's own account in the staff UI: profile (name, kana; profession and facility shown), password change,
the authenticator app with a QR code, and a link to the signed-in devices (issue 10, I4).

The QR code is drawn here, on the server, as inline SVG with segno: nothing of the secret leaves for a third-party
service or needs a script (the CSP allows none inline).
"""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from yui_common.vocabulary import profession_label
from yui_common.web import language_of

from portal.clients.base import ServiceProblem
from portal.clients.identity import OwnPasswordChange, Profile, ProfileChange, TotpEnrolment
from portal.session import Staff, StaffSession
from portal.staff.pages import IdentityApi, back, page

router = APIRouter(prefix="/staff/account")


def qr_svg(uri: str) -> Markup:
    """The otpauth:// URI as an SVG QR code (error correction M, 4 px modules, the standard 4-module border)."""
    code = segno.make(uri, error="m")
    # A white ground of its own, so a dark page or theme never leaves the code unreadable to a camera.
    svg = code.svg_inline(scale=4, border=4, svgclass="qr-code", lineclass=None, omitsize=False, light="#fff")
    # Safe as markup: segno writes only numbers and its own fixed attributes; the URI is encoded in the
    # modules, never written as text.
    return Markup(svg)  # noqa: S704


async def _account_page(
    request: Request, staff: StaffSession, identity: IdentityApi, status_code: int = 200, **extra: Any
) -> Response:
    profile = await identity.profile()
    context = {
        "profile": profile,
        "profession_text": profession_label(profile.profession, language_of(request)),
        **extra,
    }
    return page(request, staff, "staff/account.html", context, status_code=status_code)


@router.get("", response_class=HTMLResponse)
async def account(request: Request, staff: Staff, identity: IdentityApi) -> Response:
    return await _account_page(request, staff, identity)


@router.post("/profile", response_class=HTMLResponse)
async def change_profile(
    request: Request,
    staff: Staff,
    identity: IdentityApi,
    name: Annotated[str, Form(max_length=200)],
    name_kana: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not name.strip():
        return await _account_page(request, staff, identity, status_code=422, message="name_required")
    try:
        await identity.change_profile(ProfileChange(name=name.strip(), name_kana=name_kana.strip() or None))
    except ServiceProblem as refusal:
        if refusal.status != 422:
            raise
        return await _account_page(request, staff, identity, status_code=422, message="name_required")
    return back(request, "/account", done="profile_changed")


# --- the password -------------------------------------------------------------------------------------------


def _password_page(
    request: Request, staff: StaffSession, message: str | None = None, status_code: int = 200
) -> Response:
    return page(request, staff, "staff/account_password.html", {"message": message}, status_code=status_code)


@router.get("/password", response_class=HTMLResponse)
async def password_form(request: Request, staff: Staff) -> Response:
    return _password_page(request, staff)


@router.post("/password", response_class=HTMLResponse)
async def change_password(
    request: Request,
    staff: Staff,
    identity: IdentityApi,
    current_password: Annotated[str, Form(max_length=256)],
    new_password: Annotated[str, Form(max_length=256)],
    new_password_again: Annotated[str, Form(max_length=256)],
) -> Response:
    if new_password != new_password_again:
        return _password_page(request, staff, "mismatch", 422)
    change = OwnPasswordChange(current_password=current_password, new_password=new_password)
    try:
        await identity.change_own_password(change)
    except ServiceProblem as refusal:
        if refusal.status == 422:
            return _password_page(
                request, staff, "reused" if refusal.slug == "password-reused" else "rules", 422
            )
        if refusal.status == 401 and refusal.slug == "login-failed":
            # identity counts it like a failed sign-in; the session itself is still valid.
            return _password_page(request, staff, "current", 401)
        raise
    return back(request, "/account", done="own_password_changed")


# --- the authenticator app ----------------------------------------------------------------------------------


def _authenticator_page(
    request: Request,
    staff: StaffSession,
    profile: Profile,
    *,
    enrolment: TotpEnrolment | None = None,
    confirming: bool = False,
    message: str | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    context: dict[str, Any] = {
        "profile": profile,
        "enrolment": enrolment,
        "confirming": confirming,
        "message": message,
        **extra,
    }
    if enrolment is not None:
        context["qr"] = qr_svg(enrolment.provisioning_uri)
        context["account_name"] = f"{profile.login_id}@{staff.tenant}"
    return page(request, staff, "staff/account_authenticator.html", context, status_code=status_code)


@router.get("/authenticator", response_class=HTMLResponse)
async def authenticator(request: Request, staff: Staff, identity: IdentityApi) -> Response:
    profile = await identity.profile()
    return _authenticator_page(request, staff, profile)


@router.post("/authenticator", response_class=HTMLResponse)
async def start_enrolment(
    request: Request,
    staff: Staff,
    identity: IdentityApi,
    current_password: Annotated[str, Form(max_length=256)],
) -> Response:
    """The secret is shown on this answer only (never stored by the portal, never in a URL)."""
    profile = await identity.profile()
    try:
        enrolment = await identity.start_authenticator_enrolment(current_password=current_password)
    except ServiceProblem as refusal:
        if refusal.status == 401:
            return _authenticator_page(request, staff, profile, message="password", status_code=401)
        if refusal.status == 409:
            return _authenticator_page(request, staff, profile, message="not_allowed", status_code=409)
        raise
    return _authenticator_page(request, staff, profile, enrolment=enrolment)


@router.post("/authenticator/confirmation", response_class=HTMLResponse)
async def confirm_enrolment(
    request: Request,
    staff: Staff,
    identity: IdentityApi,
    code: Annotated[str, Form(max_length=12)],
) -> Response:
    typed = code.strip().replace(" ", "")
    try:
        await identity.confirm_authenticator(code=typed)
    except ServiceProblem as refusal:
        profile = await identity.profile()
        if refusal.status == 422:
            # The app holds the key already: asking for the code again is enough (the QR is not shown twice).
            return _authenticator_page(
                request, staff, profile, confirming=True, message="code", status_code=422
            )
        if refusal.status == 409:
            return _authenticator_page(request, staff, profile, message="none", status_code=409)
        raise
    return back(request, "/account", done="authenticator_enrolled")
