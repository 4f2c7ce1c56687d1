"""For facility administrators: their users (created, initial password shown once) and device certificates.

Reissuing a password, unlocking and disabling stay on identity's admin pages (/admin/users), linked from here.
The access-code download of the administrator's own first certificate needs no sign-in.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from yui_common.people import UNKNOWN_NAME
from yui_common.vocabulary import PROFESSIONS, profession_label
from yui_common.web import language_of

from portal.clients.base import ServiceProblem
from portal.clients.identity import AccessCodeRedemption, IdentityClient, NewUser, UserChange
from portal.session import Staff, StaffSession
from portal.staff.auth import login_csrf_ok, login_csrf_token, with_login_csrf
from portal.staff.pages import IdentityApi, back, gather, optional, page

router = APIRouter(prefix="/staff")
FACILITY_ADMIN = "facility_admin"


def _administrator(staff: StaffSession) -> StaffSession:
    if not staff.has_role(FACILITY_ADMIN):
        raise ServiceProblem(403)
    return staff


async def _users_page(
    request: Request,
    staff: StaffSession,
    identity: IdentityClient,
    status_code: int = 200,
    **extra: object,
) -> Response:
    users, certificates = await gather(
        identity.users(), optional(identity.certificates(staff.facility_id), [])
    )
    lang = language_of(request)
    # A certificate names its holder from the facility's users (identity's list), never by id.
    names = {user.id: user.display_name for user in users}
    unknown = UNKNOWN_NAME.get(lang, UNKNOWN_NAME["ja"])
    context = {
        "users": users,
        "certificates": [(c, names.get(c.user_id, unknown)) for c in certificates],
        "professions": [(code, profession_label(code, lang)) for code in PROFESSIONS],
        "profession_label": lambda code: profession_label(code, lang),
        **extra,
    }
    return page(request, staff, "staff/facility_users.html", context, status_code=status_code)


@router.get("/facility/users", response_class=HTMLResponse)
async def users(request: Request, staff: Staff, identity: IdentityApi) -> Response:
    return await _users_page(request, _administrator(staff), identity)


@router.post("/facility/users", response_class=HTMLResponse)
async def create_user(
    request: Request,
    staff: Staff,
    identity: IdentityApi,
    login_id: Annotated[str, Form(max_length=64)],
    display_name: Annotated[str, Form(max_length=200)],
    name_kana: Annotated[str, Form(max_length=200)] = "",
    profession: Annotated[str, Form(max_length=32)] = "",
    administrator: Annotated[bool, Form()] = False,
) -> Response:
    user = NewUser(
        login_id=login_id.strip(),
        display_name=display_name.strip(),
        name_kana=name_kana.strip() or None,
        roles=("staff", FACILITY_ADMIN) if administrator else ("staff",),
        profession=profession or None,
    )
    _administrator(staff)
    try:
        issued = await identity.create_user(user)
    except ServiceProblem as refusal:
        if refusal.status in (409, 422):
            return await _users_page(request, staff, identity, status_code=refusal.status, refusal=refusal)
        raise
    # Shown once, on this answer only (never stored, never in a redirect's URL).
    return await _users_page(request, staff, identity, issued=issued)


@router.post("/facility/users/{user_id}", response_class=HTMLResponse)
async def change_user(
    request: Request,
    staff: Staff,
    identity: IdentityApi,
    user_id: UUID,
    display_name: Annotated[str, Form(max_length=200)],
    name_kana: Annotated[str, Form(max_length=200)] = "",
    profession: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """The administrator corrects a user's name, kana or profession (the user may change name and kana
    themselves on their account page; the profession only here)."""
    _administrator(staff)
    change = UserChange(
        display_name=display_name.strip(), name_kana=name_kana.strip() or None, profession=profession or None
    )
    try:
        await identity.change_user(user_id, change)
    except ServiceProblem as refusal:
        if refusal.status in (409, 422):
            return await _users_page(request, staff, identity, status_code=refusal.status, refusal=refusal)
        raise
    return back(request, "/facility/users", done="user_changed")


@router.post("/facility/certificates")
async def issue_certificate(
    request: Request,
    staff: Staff,
    identity: IdentityApi,
    user_id: Annotated[UUID, Form()],
    terminal_label: Annotated[str, Form(max_length=64)],
    pin: Annotated[str, Form(max_length=64)],
) -> Response:
    """A PKCS#12 for one device of a user, protected by the PIN the administrator chose, downloaded now."""
    _administrator(staff)
    try:
        answer = await identity.issue_certificate(
            user_id=user_id, terminal_label=terminal_label.strip(), pin=pin
        )
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        return await _users_page(request, staff, identity, status_code=refusal.status, refusal=refusal)
    return _pkcs12(answer.content, answer.headers.get("content-disposition"))


def _pkcs12(content: bytes, disposition: str | None) -> Response:
    return Response(
        content,
        media_type="application/x-pkcs12",
        headers={
            "Content-Disposition": disposition or 'attachment; filename="yui.p12"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/certificate", response_class=HTMLResponse)
async def access_code_form(request: Request) -> Response:
    token = login_csrf_token(request)
    context = {"tenant": request.app.state.settings.default_tenant, "login_csrf": token}
    return with_login_csrf(page(request, None, "staff/access_code.html", context), token)


@router.post("/certificate", response_class=HTMLResponse)
async def redeem_access_code(
    request: Request,
    tenant: Annotated[str, Form(max_length=63)],
    access_code: Annotated[str, Form(max_length=64)],
    pin: Annotated[str, Form(max_length=64)],
    terminal_label: Annotated[str, Form(max_length=64)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """The administrator's own first certificate, with the access code and PIN from the approval letter."""
    token = login_csrf_token(request)
    if not login_csrf_ok(request, csrf):
        context = {"tenant": tenant, "failed": 403, "login_csrf": token}
        return with_login_csrf(page(request, None, "staff/access_code.html", context, status_code=403), token)
    redemption = AccessCodeRedemption(
        tenant=tenant, access_code=access_code.strip(), pin=pin.strip(), terminal_label=terminal_label
    )
    try:
        answer = await IdentityClient(request).redeem_access_code(redemption)
    except ServiceProblem as refusal:
        context = {"tenant": tenant, "failed": refusal.status, "login_csrf": token}
        failed = page(request, None, "staff/access_code.html", context, status_code=refusal.status)
        return with_login_csrf(failed, token)
    return _pkcs12(answer.content, answer.headers.get("content-disposition"))
