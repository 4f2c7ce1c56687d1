"""Signing in to the staff UI: password + TOTP or certificate, first-login password, sessions, logout."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from yui_common.auth import presented_certificate_fingerprint

from portal.clients.base import ServiceProblem
from portal.clients.identity import Credentials, IdentityClient, PasswordChange
from portal.public.networks import login_network
from portal.session import (
    LOGIN_CSRF_COOKIE,
    MaybeStaff,
    Staff,
    begin_session,
    clear_session_cookie,
    seal,
    unseal,
)
from portal.staff.pages import IdentityApi, back, page, safe_next, url

router = APIRouter()
FIRST_LOGIN_COOKIE = "yui_staff_first"
FIRST_LOGIN_TTL_S = 15 * 60
STAFF_COOKIE_PATH = "/staff"


def login_csrf_token(request: Request) -> str:
    """The double-submitted token of the login forms: the same random value in a cookie and in the form."""
    existing = request.cookies.get(LOGIN_CSRF_COOKIE)
    return existing if existing and len(existing) >= 20 else secrets.token_urlsafe(24)


def with_login_csrf(response: Response, token: str) -> Response:
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, secure=True, samesite="strict", path=STAFF_COOKIE_PATH
    )
    return response


def login_csrf_ok(request: Request, sent: str) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE) or ""
    origin = request.headers.get("origin")
    same_origin = origin is None or origin.split("://", 1)[-1] == request.headers.get("host")
    return bool(cookie) and hmac.compare_digest(cookie, sent) and same_origin


def _certificate_presented(request: Request) -> bool:
    return presented_certificate_fingerprint(request) is not None


def _login_page(
    request: Request, *, message: str | None = None, status_code: int = 200, **values: Any
) -> Response:
    token = login_csrf_token(request)
    context = {
        "login_csrf": token,
        "message": message,
        "certificate": _certificate_presented(request),
        "next": safe_next(request, request.query_params.get("next") or values.get("next")),
        "tenant": values.get("tenant") or login_network(request),
        "login_id": values.get("login_id", ""),
    }
    return with_login_csrf(page(request, None, "staff/login.html", context, status_code), token)


@router.get("/login", include_in_schema=False)
async def short_login(request: Request) -> RedirectResponse:
    return RedirectResponse(url(request, "/login"), status_code=303)


@router.get("/staff/login", response_class=HTMLResponse)
async def login_form(request: Request, staff: MaybeStaff) -> Response:
    if staff is not None:
        return RedirectResponse(safe_next(request, request.query_params.get("next")), status_code=303)
    return _login_page(request)


@router.post("/staff/login", response_class=HTMLResponse)
async def login(
    request: Request,
    tenant: Annotated[str, Form(max_length=63)],
    login_id: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    totp_code: Annotated[str, Form(max_length=12)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    values = {"tenant": tenant, "login_id": login_id, "next": next}
    if not login_csrf_ok(request, csrf):
        return _login_page(request, message="expired", status_code=403, **values)
    code = totp_code.strip().replace(" ", "")
    credentials = Credentials(tenant=tenant, login_id=login_id, password=password, totp_code=code or None)
    try:
        tokens = await IdentityClient(request).sign_in(credentials)
    except ServiceProblem as problem:
        if problem.status == 403 and problem.slug == "password-change-required":
            if problem.extensions.get("reason") == "expired":
                # I4: the network's periodic change. The code just typed was not spent: it confirms the change.
                return _first_login_redirect(request, tenant, login_id, password, expired_code=code)
            return _first_login_redirect(request, tenant, login_id, password)
        # One answer for every reason (wrong id, password, code, locked): identity does the same.
        return _login_page(request, message="failed", status_code=401, **values)
    response = RedirectResponse(safe_next(request, next), status_code=303)
    begin_session(
        request,
        response,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        session_id=str(tokens.session_id),
        login_id=login_id,
    )
    return response


def _first_login_redirect(
    request: Request, tenant: str, login_id: str, password: str, *, expired_code: str | None = None
) -> Response:
    """Identity wants a new password first: what was typed travels on in a short-lived encrypted cookie. For
    an expired password (``expired_code`` given, maybe empty) the user keeps their second factor: no enrolment."""
    response = RedirectResponse(url(request, "/first-login"), status_code=303)
    pending: dict[str, Any] = {"t": tenant, "l": login_id, "p": password}
    if expired_code is not None:
        pending |= {"e": 1, "c": expired_code}
    _keep_pending(request, response, pending)
    return response


def _keep_pending(request: Request, response: Response, pending: dict[str, Any]) -> None:
    response.set_cookie(
        FIRST_LOGIN_COOKIE,
        seal(request, pending),
        max_age=FIRST_LOGIN_TTL_S,
        httponly=True,
        secure=True,
        samesite="strict",
        path=STAFF_COOKIE_PATH,
    )


def _pending(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FIRST_LOGIN_COOKIE)
    pending = unseal(request, raw) if raw else None
    return pending if pending and {"t", "l", "p"} <= pending.keys() else None


def _first_login_page(
    request: Request, pending: dict[str, Any], *, message: str | None = None, status_code: int = 200
) -> Response:
    token = login_csrf_token(request)
    context = {
        "login_csrf": token,
        "message": message,
        "certificate": _certificate_presented(request),
        "secret": pending.get("s"),
        "provisioning_uri": pending.get("u"),
        "totp_unavailable": pending.get("x") == "totp-not-allowed",
        "expired": bool(pending.get("e")),
    }
    response = page(request, None, "staff/first_login.html", context, status_code)
    _keep_pending(request, response, pending)
    return with_login_csrf(response, token)


@router.get("/staff/first-login", response_class=HTMLResponse)
async def first_login_form(request: Request) -> Response:
    pending = _pending(request)
    if pending is None:
        return RedirectResponse(url(request, "/login"), status_code=303)
    if not _certificate_presented(request) and not {"s", "x", "e"} & pending.keys():
        # Enrol the authenticator once per first login; the secret then travels in the encrypted cookie.
        try:
            enrolment = await IdentityClient(request).enrol_totp(
                tenant=pending["t"], login_id=pending["l"], password=pending["p"]
            )
            pending = {**pending, "s": enrolment.secret, "u": enrolment.provisioning_uri}
        except ServiceProblem as problem:
            if problem.status != 409 or problem.slug != "totp-not-allowed":
                response = RedirectResponse(url(request, "/login?done=failed"), status_code=303)
                response.delete_cookie(FIRST_LOGIN_COOKIE, path=STAFF_COOKIE_PATH)
                return response
            pending = {**pending, "x": "totp-not-allowed"}
    return _first_login_page(request, pending)


@router.post("/staff/first-login", response_class=HTMLResponse)
async def first_login(
    request: Request,
    new_password: Annotated[str, Form(max_length=256)],
    new_password_again: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=100)] = "",
    totp_code: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    pending = _pending(request)
    if pending is None:
        return RedirectResponse(url(request, "/login"), status_code=303)
    if not login_csrf_ok(request, csrf):
        return _first_login_page(request, pending, message="expired", status_code=403)
    if new_password != new_password_again:
        return _first_login_page(request, pending, message="mismatch", status_code=422)
    code = totp_code.strip().replace(" ", "") or (pending.get("c") or "" if pending.get("e") else "")
    change = PasswordChange(
        tenant=pending["t"],
        login_id=pending["l"],
        current_password=pending["p"],
        new_password=new_password,
        totp_code=code or None,
    )
    try:
        await IdentityClient(request).change_password(change)
    except ServiceProblem as problem:
        if problem.status == 422:
            return _first_login_page(request, pending, message="rules", status_code=422)
        if problem.status == 409:
            return _first_login_page(request, pending, message="second_factor", status_code=409)
        return _first_login_page(request, pending, message="code", status_code=401)
    done = "password_renewed" if pending.get("e") else "password_changed"
    response = RedirectResponse(url(request, f"/login?done={done}"), status_code=303)
    response.delete_cookie(FIRST_LOGIN_COOKIE, path=STAFF_COOKIE_PATH)
    return response


@router.post("/staff/logout")
async def logout(request: Request, identity: IdentityApi) -> Response:
    await identity.sign_out()
    response = back(request, "/login", done="signed_out")
    clear_session_cookie(response)
    return response


@router.get("/staff/sessions", response_class=HTMLResponse)
async def my_sessions(request: Request, staff: Staff, identity: IdentityApi) -> Response:
    sessions = await identity.sessions()
    for item in sessions:
        item.current = item.current or str(item.id) == staff.session_id
    return page(request, staff, "staff/sessions.html", {"sessions": sessions})


@router.post("/staff/sessions/{session_id}/end")
async def end_session(request: Request, session_id: UUID, staff: Staff, identity: IdentityApi) -> Response:
    await identity.end_session(session_id)
    if str(session_id) == staff.session_id:
        response = back(request, "/login", done="signed_out")
        clear_session_cookie(response)
        return response
    return back(request, "/sessions", done="session_ended")
