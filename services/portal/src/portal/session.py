"""Who is signed in to the staff UI: the encrypted session cookie, its token refresh, CSRF, and require_staff.

The cookie holds identity's access and refresh tokens encrypted and authenticated with Fernet (AES-CBC +
HMAC), so the browser never sees a token in clear and no server-side store is needed: any portal replica
that has the key can read it. It is HttpOnly, Secure and SameSite=Lax. Every state-changing form carries a
CSRF token that lives inside the same encrypted cookie (synchronizer pattern), and must come from our origin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass, replace
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from uuid import UUID

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from yui_common.auth import (
    TokenVerifier,
    presented_certificate_fingerprint,
    principal_from_claims,
    refuse_revoked,
)
from yui_common.problems import Problem, problem_response

from portal.clients.identity import IdentityClient

log = logging.getLogger(__name__)
SESSION_COOKIE = "yui_staff"
# Before sign-in there is no session to hold a CSRF token: the login form uses a double-submitted cookie.
LOGIN_CSRF_COOKIE = "yui_staff_login"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
# Refresh a little before the access token ends, so a page never calls a service with an expired token.
REFRESH_MARGIN_S = 120


@dataclass(frozen=True)
class StaffSession:
    """Who is signed in to the staff UI, and the token the portal calls the services with on their behalf."""

    user_id: UUID
    tenant: str
    facility_id: UUID
    roles: tuple[str, ...]
    name: str
    token: str
    session_id: str | None = None
    csrf: str = ""
    login_id: str = ""
    cert_fingerprint: str | None = None
    # The terms version (its id) this member was last found to have accepted: the gate reads PostgreSQL
    # again only when the version in effect is another one (operations/gate.py).
    accepted_terms: str = ""

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class SignInRequiredError(Exception):
    """Raised by require_staff: answered with a redirect to the login page (or an htmx redirect)."""


class CsrfRejectedError(Exception):
    """A state-changing request without our CSRF token or from another origin."""


def _fernet(request: Request) -> Fernet:
    app = request.app
    cached: Fernet | None = getattr(app.state, "staff_session_fernet", None)
    if cached is None:
        secret: str = getattr(app.state.settings, "staff_session_key", "") or ""
        if not secret:
            # No configured key: one per process. Sessions then end at a restart and do not cross replicas,
            # which is acceptable for `make run`; deployments set YUI_PORTAL_STAFF_SESSION_KEY.
            secret = getattr(app.state, "staff_session_ephemeral_key", "") or secrets.token_urlsafe(32)
            app.state.staff_session_ephemeral_key = secret
            log.warning(
                "YUI_PORTAL_STAFF_SESSION_KEY is not set: staff sessions end when this process does and are "
                "not shared with other replicas"
            )
        key = base64.urlsafe_b64encode(
            hashlib.sha256(b"yui-portal-staff-session:" + secret.encode()).digest()
        )
        cached = Fernet(key)
        app.state.staff_session_fernet = cached
    return cached


def _max_age_s(request: Request) -> int:
    hours: int = getattr(request.app.state.settings, "staff_session_max_hours", 12)
    return hours * 3600


def seal(request: Request, payload: dict[str, Any]) -> str:
    return _fernet(request).encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode()


def unseal(request: Request, value: str) -> dict[str, Any] | None:
    try:
        data = _fernet(request).decrypt(value.encode(), ttl=_max_age_s(request))
    except (InvalidToken, ValueError):
        return None
    payload = json.loads(data)
    return payload if isinstance(payload, dict) else None


def set_session_cookie(request: Request, response: Response, payload: dict[str, Any]) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        seal(request, payload),
        max_age=_max_age_s(request),
        httponly=True,
        secure=True,
        samesite="lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def begin_session(
    request: Request,
    response: Response,
    *,
    access_token: str,
    refresh_token: str,
    session_id: str,
    login_id: str,
) -> None:
    """After a successful login: the cookie that makes the next requests signed in."""
    payload = {
        "a": access_token,
        "r": refresh_token,
        "s": session_id,
        "c": secrets.token_urlsafe(24),
        "l": login_id,
    }
    set_session_cookie(request, response, payload)


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


async def _claims(request: Request, token: str) -> dict[str, Any] | None:
    try:
        return await _verifier(request).verify(token)
    except Problem:
        return None


async def _refreshed(request: Request, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Ask identity for a new access token with the session's refresh token; None when the session ended."""
    try:
        tokens = await IdentityClient(request).refresh(payload["r"])
    except (
        Exception
    ):  # identity unreachable or the session ended: the caller keeps the old token while it lasts
        return None
    return {**payload, "a": tokens.access_token, "r": tokens.refresh_token, "s": str(tokens.session_id)}


async def current_staff(request: Request) -> StaffSession | None:
    """The signed-in staff member, or None. Refreshes the access token when it is about to end."""
    if "staff_session" in request.state._state:  # computed once per request
        cached: StaffSession | None = request.state.staff_session
        return cached
    staff = await _load_staff(request)
    request.state.staff_session = staff
    return staff


async def _load_staff(request: Request) -> StaffSession | None:
    raw = request.cookies.get(SESSION_COOKIE)
    payload = unseal(request, raw) if raw else None
    if not payload or not payload.get("a"):
        return None
    claims = await _claims(request, payload["a"])
    remaining = (claims or {}).get("exp", 0) - time.time()
    if claims is None or remaining < REFRESH_MARGIN_S:
        renewed = await _refreshed(request, payload)
        if renewed is not None:
            renewed_claims = await _claims(request, renewed["a"])
            if renewed_claims is not None:
                payload, claims = renewed, renewed_claims
                # The middleware below writes the new cookie onto whatever response this request produces.
                request.state.staff_session_cookie = (seal(request, payload), _max_age_s(request))
    if claims is None:
        # Not cleared: a request racing this one may just have rotated the refresh token and set a cookie
        # that works; a cookie whose session really ended only costs a failed refresh per request.
        return None
    try:
        principal = principal_from_claims(claims, presented_certificate_fingerprint(request))
        # As every service does per request: a suspended user or facility, an ended session or a revoked
        # certificate is refused before the token's own end (the portal's worker keeps the deny list too).
        async with single_statement_session(request.app) as session:
            await refuse_revoked(session, principal, int(claims["iat"]))
    except Problem:
        return None  # a certificate-bound session used without its certificate, or a revoked one
    if principal.facility_id is None:
        return None  # operators have the identity admin; the staff UI is for people of a facility
    request.state.staff_session_payload = payload
    return StaffSession(
        user_id=principal.user_id,
        tenant=principal.tenant,
        facility_id=principal.facility_id,
        roles=tuple(sorted(principal.roles)),
        name=principal.name,
        token=payload["a"],
        session_id=principal.session_id,
        csrf=str(payload.get("c", "")),
        login_id=str(payload.get("l", "")),
        cert_fingerprint=principal.cert_fingerprint,
        accepted_terms=str(payload.get("t", "")),
    )


def keep_in_session(request: Request, **fields: str) -> None:
    """Add fields to the signed-in member's sealed cookie: the cookie writer sets it on this request's
    answer (with a refreshed token too, when the same request refreshed it)."""
    payload: dict[str, Any] | None = getattr(request.state, "staff_session_payload", None)
    if not payload:
        return
    payload = {**payload, **fields}
    request.state.staff_session_payload = payload
    request.state.staff_session_cookie = (seal(request, payload), _max_age_s(request))


def single_statement_session(app: FastAPI) -> AsyncSession:
    """A session for one read outside any request transaction (the gate's checks): in autocommit, so the
    read is one round trip to PostgreSQL instead of BEGIN, the statement and ROLLBACK."""
    maker: async_sessionmaker[AsyncSession] | None = getattr(app.state, "single_statement_sessions", None)
    if maker is None:
        engine = app.state.engine.execution_options(isolation_level="AUTOCOMMIT")
        maker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        app.state.single_statement_sessions = maker
    return maker()


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        # Browsers send Origin on every cross-site POST; its absence means a same-site navigation or a
        # non-browser client, which the CSRF token still has to satisfy.
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")


async def require_staff(request: Request) -> StaffSession:
    """FastAPI dependency: the signed-in staff member, else a redirect to the login page.

    For a state-changing method it also checks the CSRF token (form field ``csrf`` or header X-CSRF-Token)."""
    staff = await current_staff(request)
    if staff is None:
        raise SignInRequiredError
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await check_csrf(request, staff.csrf)
    return staff


async def check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # Starlette caches it: the endpoint's Form(...) parameters read it again
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(sent, expected) or not _same_origin(request):
        raise CsrfRejectedError


Staff = Annotated[StaffSession, Depends(require_staff)]
MaybeStaff = Annotated[StaffSession | None, Depends(current_staff)]


def login_path(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}/staff/login"


def sign_in_redirect(request: Request, _exc: Exception | None = None) -> Response:
    target = login_path(request)
    if request.method == "GET" and not request.headers.get("hx-request"):
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += f"?next={quote(here, safe='')}"
    if request.headers.get("hx-request"):
        # An htmx request would swap the login page into a fragment; ask htmx to navigate instead.
        return Response(status_code=204, headers={"HX-Redirect": target})
    response = RedirectResponse(target, status_code=303)
    return response


def _csrf_refused(request: Request, _exc: Exception) -> Response:
    return problem_response(
        request, 403, "csrf", "Form expired", "Reload the page and send the form again (CSRF check failed)."
    )


def updated_staff(staff: StaffSession, **changes: Any) -> StaffSession:
    return replace(staff, **changes)


class _SessionCookieWriter:
    """Writes the refreshed (or cleared) session cookie onto whatever response the request produced."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and "staff_session_cookie" in state:
                value, max_age = state.pop("staff_session_cookie")
                headers = list(message.get("headers", []))
                # A response that already sets the cookie (login, logout) decides for itself.
                if not any(
                    k == b"set-cookie" and v.startswith(SESSION_COOKIE.encode() + b"=") for k, v in headers
                ):
                    response = Response()
                    if value:
                        response.set_cookie(
                            SESSION_COOKIE, value, max_age=max_age, httponly=True, secure=True, samesite="lax"
                        )
                    else:
                        clear_session_cookie(response)
                    headers += [(k, v) for k, v in response.raw_headers if k == b"set-cookie"]
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def install_staff_session(app: FastAPI) -> None:
    """Give the app the redirect to the login page, the CSRF refusal and the refreshed-cookie writer.

    Install it after any middleware that calls current_staff (the portal's gate): the writer must be the
    outer one, so that a refreshed cookie reaches the browser whatever answers the request."""
    app.add_exception_handler(SignInRequiredError, sign_in_redirect)
    app.add_exception_handler(CsrfRejectedError, _csrf_refused)
    app.add_middleware(_SessionCookieWriter)
