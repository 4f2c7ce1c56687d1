"""The portal's gate over every request: maintenance 503s (O2), the terms acceptance redirect (P3) and the
stop banners every page shows (P4).

It reads no table per request: the maintenance state, the terms versions and the banners come through
gate_cache.py (emptied by LISTEN/NOTIFY; its docstring says how stale they can be), and the version a member
accepted is kept in their sealed session cookie, read from PostgreSQL again only when another version comes
into effect. Signing in stays checked per request (current_staff: the token, and the deny list's query)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send
from yui_common.auth import bearer_token
from yui_common.problems import problem_response
from yui_common.web import render

from portal.networks.suspension import is_suspended as network_is_suspended
from portal.networks.suspension import suspended_response
from portal.notices import service as notices
from portal.notices.service import TermsInForce
from portal.operations.gate_cache import read_through
from portal.operations.maintenance import MaintenanceState, state_for
from portal.public.networks import public_network
from portal.session import (
    SESSION_COOKIE,
    StaffSession,
    current_staff,
    keep_in_session,
    single_statement_session,
    unseal,
)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
PASSTHROUGH = ("/static", "/healthz", "/readyz", "/metrics")
# Never closed for maintenance: the operator's own pages and API (to switch it off again), signing in and out.
UNGATED = ("/operator", "/api/operator", "/staff/login", "/staff/logout")
# Pages for signed-in staff: closed during maintenance and behind the acceptance of the terms in effect.
STAFF_AREAS = ("/staff", "/forms/facility-change", "/forms/facility-withdrawal")
TERMS_ACCEPT_PATH = "/terms/accept"
BANNERS_STATE = "site_banners"


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def local_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def _unverified_tenant(token: str | None) -> str | None:
    """The network a token names, read without checking its signature: it only chooses which network's
    maintenance switch applies, never what anyone may see or do (the routes verify the token)."""
    if not token:
        return None
    try:
        tenant = jwt.decode(token, options={"verify_signature": False}).get("tenant")
    except jwt.PyJWTError:
        return None
    return str(tenant) if tenant else None


def tenant_hint(request: Request) -> str:
    raw = request.cookies.get(SESSION_COOKIE)
    payload = unseal(request, raw) if raw else None
    found = _unverified_tenant(payload.get("a") if payload else None) or _unverified_tenant(
        bearer_token(request)
    )
    wanted = public_network(request) or request.query_params.get("tenant")
    default: str = request.app.state.settings.default_tenant
    return found or (wanted if wanted and len(wanted) <= 63 else default)


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not local_path(request.scope).startswith("/api/")


def maintenance_response(request: Request, state: MaintenanceState) -> Response:
    headers = {"Retry-After": "300"}
    if wants_html(request):
        response: Response = render(
            request, "public/maintenance.html", {"maintenance": state}, status_code=503
        )
    else:
        response = problem_response(
            request,
            503,
            "maintenance",
            "Under maintenance",
            state.reason,
            expected_end=state.expected_end.isoformat() if state.expected_end else None,
        )
    response.headers.update(headers)
    return response


def terms_response(request: Request, path: str) -> Response:
    root = request.scope.get("root_path", "")
    here = path + (f"?{request.url.query}" if request.url.query else "")
    target = f"{root}{TERMS_ACCEPT_PATH}?next={quote(here, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    if request.method in SAFE_METHODS:
        return RedirectResponse(target, status_code=303)
    return problem_response(
        request,
        403,
        "terms-not-accepted",
        "Terms of use not accepted",
        "Accept the terms of use in effect before you continue.",
        accept_url=target,
    )


class PortalGate:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = local_path(scope)
        if _under(path, PASSTHROUGH):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        answer = await self._check(request, path)
        if answer is not None:
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _check(self, request: Request, path: str) -> Response | None:
        staff_area = _under(path, STAFF_AREAS) and not _under(path, UNGATED)
        gated = not _under(path, UNGATED)
        # A network's public site (/n/<slug>/ or its host) is that network's, whoever is signed in: its
        # suspension, maintenance and banners apply there, not those of the visitor's own network.
        site = None if staff_area else public_network(request)
        tenant = site or tenant_hint(request)
        if await network_is_suspended(request, tenant):
            # ten3: every page and API of a suspended network, staff and public alike (nothing is deleted).
            return suspended_response(request, html=wants_html(request))
        state = await maintenance_state(request, tenant)
        if state.active and gated and (staff_area or request.method not in SAFE_METHODS):
            return maintenance_response(request, state)
        staff: StaffSession | None = None
        if staff_area or (request.method == "GET" and wants_html(request)):
            staff = await current_staff(request)
        if staff_area and staff is not None and not await terms_accepted(request, staff):
            return terms_response(request, path)
        if request.method == "GET" and wants_html(request):
            shown = await banners(request, tenant=site or (staff.tenant if staff else tenant), viewer=staff)
            banner_list: list[dict[str, Any]] = [
                {
                    "kind": n.kind,
                    "title": n.title,
                    "starts_at": n.starts_at,
                    "ends_at": n.ends_at,
                    "id": n.id,
                }
                for n in shown
            ]
            setattr(request.state, BANNERS_STATE, {"maintenance": state, "notices": banner_list})
        return None


async def maintenance_state(request: Request, tenant: str) -> MaintenanceState:
    """The network's maintenance state, from the gate's cache (gate_cache.py says how fresh it is)."""

    async def load() -> MaintenanceState:
        async with single_statement_session(request.app) as session:
            return await state_for(session, tenant)

    return await read_through(request.app, ("maintenance", tenant), load)


async def banners(request: Request, *, tenant: str, viewer: StaffSession | None) -> list[notices.Banner]:
    """The stop banners to show now: the network's candidates from the gate's cache, filtered by time."""
    audiences = notices.audiences_for(viewer, tenant)

    async def load() -> tuple[notices.Banner, ...]:
        async with single_statement_session(request.app) as session:
            return await notices.banner_candidates(session, tenant=tenant, audiences=audiences)

    candidates = await read_through(request.app, ("banners", f"{tenant} {','.join(audiences)}"), load)
    return notices.banners_now(candidates)


async def terms_accepted(request: Request, staff: StaffSession) -> bool:
    """Whether the member accepted the terms version in effect. The versions come from the gate's cache;
    the member's acceptance from the sealed cookie while the version in effect is the one it names, else
    from PostgreSQL once, after which the cookie names the new version (P3's check, without a read per page)."""

    async def load() -> tuple[TermsInForce, ...]:
        async with single_statement_session(request.app) as session:
            return await notices.terms_schedule(session, tenant=staff.tenant)

    schedule = await read_through(request.app, ("terms", staff.tenant), load)
    in_effect = notices.version_in_effect(schedule)
    if in_effect is None:
        return True
    if staff.accepted_terms == str(in_effect.id):
        return True
    async with single_statement_session(request.app) as session:
        pending = await notices.pending_terms(session, actor=staff)
    if pending is not None:
        return False
    keep_in_session(request, t=str(in_effect.id))
    return True


def install_portal_gate(app: FastAPI) -> None:
    """Innermost of the middleware: it sees the gateway's prefix already applied, and the staff session's
    cookie writer (outer) still writes a refreshed cookie onto the gate's own answers."""
    app.user_middleware.append(Middleware(PortalGate))
