"""The operators' and contractors' admin UI (server-rendered, Japanese first) under /admin.

Signed in by a form that sets the access token as an HttpOnly, Secure, SameSite=Strict cookie; the pages
then call the same use cases as the JSON API. Form posts change state, so besides the SameSite cookie each
post must come from our own origin (an Origin header naming another host is refused).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from yui_common.auth import ACCESS_COOKIE, Principal, current_principal, presented_certificate_fingerprint
from yui_common.db import DbSession
from yui_common.problems import Problem
from yui_common.web import render

from identity import audit_search, directory, service
from identity.schemas import SessionTokens

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
MANAGERS = (service.OPERATOR, service.CONTRACTOR)
# A facility administrator has their own pages (users, their facility's entry); the rest is the network's.
ADMIN_ROLES = (*MANAGERS, service.FACILITY_ADMIN)


async def admin_principal(request: Request, session: DbSession) -> Principal | None:
    try:
        principal = await current_principal(request, session)
    except Problem:
        return None
    return principal if any(principal.has_role(r) for r in ADMIN_ROLES) else None


async def manager_principal(
    principal: Annotated[Principal | None, Depends(admin_principal)],
) -> Principal | None:
    return principal if principal is not None and any(principal.has_role(r) for r in MANAGERS) else None


# Pages of the whole network (operators, contractors) and pages a facility administrator may also open.
AdminPrincipal = Annotated[Principal | None, Depends(manager_principal)]
FacilityPagePrincipal = Annotated[Principal | None, Depends(admin_principal)]


def _to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/admin/login", status_code=303)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def _back(request: Request, page: str) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/admin/{page}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return render(request, "admin_login.html", {"failed": False})


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    session: DbSession,
    tenant: Annotated[str, Form(max_length=63)],
    login_id: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    totp_code: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    outcome = await service.login(
        session,
        settings=request.app.state.settings,
        tenant=tenant,
        login_id=login_id,
        password=password,
        totp_code=totp_code or None,
        cert_fingerprint=presented_certificate_fingerprint(request),
        user_agent=request.headers.get("user-agent"),
    )
    if not isinstance(outcome, SessionTokens):
        # Rendered, not raised: the failed attempt's audit entry and lockout count must commit.
        return render(request, "admin_login.html", {"failed": True}, status_code=outcome.status)
    response = _to_home(request)
    response.set_cookie(
        ACCESS_COOKIE,
        outcome.access_token,
        max_age=outcome.expires_in,
        httponly=True,
        secure=True,
        samesite="strict",
    )
    return response


def _to_home(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/admin", status_code=303)


@router.get("", response_class=HTMLResponse)
async def admin_home(request: Request, principal: FacilityPagePrincipal, session: DbSession) -> Response:
    if principal is None:
        return _to_login(request)
    if not any(principal.has_role(r) for r in MANAGERS):
        return _back(request, "users")
    overview = await service.admin_overview(session, principal=principal)
    return _page(request, "admin_home.html", {"overview": overview, "principal": principal})


def _page(request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
    """Render with the navigation the signed-in person's role calls for."""
    principal: Principal | None = getattr(request.state, "principal", None)
    manager = principal is not None and any(principal.has_role(r) for r in MANAGERS)
    return render(request, template, {"manager": manager, **context})


def _table(
    request: Request, page: str, rows: list[dict[str, Any]], columns: list[str], **extra: Any
) -> HTMLResponse:
    return _page(request, "admin_table.html", {"page": page, "rows": rows, "columns": columns, **extra})


@router.get("/applications", response_class=HTMLResponse)
async def applications(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    if principal is None:
        return _to_login(request)
    rows = await service.list_facilities(session, principal=principal, status="applied")
    return _table(
        request,
        "applications",
        [vars(r) for r in rows],
        ["name", "kind", "address", "administrator_name", "administrator_email", "applied_at"],
        decide=principal.has_role(service.OPERATOR),
    )


@router.post("/applications/{facility_id}/approval", response_class=HTMLResponse)
async def approve(
    facility_id: UUID, request: Request, principal: AdminPrincipal, session: DbSession
) -> Response:
    if principal is None or not _same_origin(request):
        return _to_login(request)
    approval = await service.approve_application(session, principal=principal, facility_id=facility_id)
    return _page(request, "admin_approved.html", {"approval": approval})


@router.post("/applications/{facility_id}/rejection")
async def reject(
    facility_id: UUID,
    request: Request,
    principal: AdminPrincipal,
    session: DbSession,
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    if principal is None or not _same_origin(request):
        return _to_login(request)
    await service.reject_application(session, principal=principal, facility_id=facility_id, reason=reason)
    return _back(request, "applications")


@router.get("/facilities", response_class=HTMLResponse)
async def facilities(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    if principal is None:
        return _to_login(request)
    rows = await service.list_facilities(session, principal=principal, status=None)
    return _table(
        request,
        "facilities",
        [vars(r) for r in rows],
        ["name", "kind", "status", "phone", "published", "directory_withheld"],
        directory_actions=principal.has_role(service.OPERATOR),
    )


@router.post("/facilities/{facility_id}/directory/{action}", response_class=HTMLResponse)
async def directory_veto(
    facility_id: UUID,
    action: str,
    request: Request,
    principal: AdminPrincipal,
    session: DbSession,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """P1: the operator withholds a facility's directory entry (with a reason), or releases it again."""
    if principal is None or not _same_origin(request):
        return _to_login(request)
    if action == "withholding":
        changes = directory.PublicationUpdate(
            withheld_by_operator=True, withheld_reason=reason.strip() or None
        )
    elif action == "release":
        changes = directory.PublicationUpdate(withheld_by_operator=False)
    else:
        raise Problem(404, "not-found", "Not found", "No such action.")
    await directory.change_publication(session, principal=principal, facility_id=facility_id, changes=changes)
    return _back(request, "facilities")


@router.post("/network/directory-policy", response_class=HTMLResponse)
async def directory_policy(
    request: Request,
    principal: AdminPrincipal,
    session: DbSession,
    opt_in_only: Annotated[bool, Form()] = False,
) -> Response:
    """P1: whether the directory lists only facilities that opted in (some networks' rule, Ko21-2)."""
    if principal is None or not _same_origin(request):
        return _to_login(request)
    await directory.change_policy(
        session, principal=principal, changes=directory.DirectoryPolicy(opt_in_only=opt_in_only)
    )
    return _back(request, "network")


@router.get("/users", response_class=HTMLResponse)
async def users(request: Request, principal: FacilityPagePrincipal, session: DbSession) -> Response:
    if principal is None:
        return _to_login(request)
    found = await service.list_users(session, principal=principal, facility_id=None)
    rows = [service.user_read(u).model_dump() for u in found]
    columns = ["login_id", "display_name", "roles", "status", "locked", "totp_enrolled"]
    return _table(request, "users", rows, columns, user_actions=True)


@router.post("/users/{user_id}/{action}", response_class=HTMLResponse)
async def user_action(
    user_id: UUID, action: str, request: Request, principal: FacilityPagePrincipal, session: DbSession
) -> Response:
    if principal is None or not _same_origin(request):
        return _to_login(request)
    if action == "unlock":
        await service.unlock_user(session, principal=principal, user_id=user_id)
        return _back(request, "users")
    if action == "password-reissue":
        user, password = await service.reissue_password(session, principal=principal, user_id=user_id)
        return _page(request, "admin_issued.html", {"user": user, "initial_password": password})
    raise Problem(404, "not-found", "Not found", "No such action.")


@router.get("/facility", response_class=HTMLResponse)
async def own_facility(request: Request, principal: FacilityPagePrincipal, session: DbSession) -> Response:
    """A facility administrator's own entry, including whether the portal publishes it (P1)."""
    if principal is None or principal.facility_id is None:
        return _to_login(request)
    facility = await service.get_facility(session, principal=principal, facility_id=principal.facility_id)
    columns = [
        "name",
        "kind",
        "status",
        "address",
        "phone",
        "administrator_name",
        "administrator_email",
        "published",
    ]
    # Changing the profile and what of it the directory shows is the portal's online change form (P6).
    return _table(request, "facility", [vars(facility)], columns, vertical=True, change_form=True)


@router.get("/suspensions", response_class=HTMLResponse)
async def suspensions(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    if principal is None:
        return _to_login(request)
    rows = await service.list_suspensions(session, principal=principal, open_only=False)
    return _table(
        request,
        "suspensions",
        [vars(r) for r in rows],
        [
            "target_kind",
            "target_id",
            "reason",
            "suspended_by_role",
            "created_at",
            "acknowledged_at",
            "lifted_at",
        ],
        suspensions_actions=principal.has_role(service.OPERATOR),
    )


@router.post("/suspensions/{suspension_id}/{action}")
async def suspension_action(
    suspension_id: UUID, action: str, request: Request, principal: AdminPrincipal, session: DbSession
) -> Response:
    if principal is None or not _same_origin(request):
        return _to_login(request)
    if action == "acknowledgement":
        await service.acknowledge_suspension(session, principal=principal, suspension_id=suspension_id)
    elif action == "lifting":
        await service.lift_suspension(session, principal=principal, suspension_id=suspension_id)
    else:
        raise Problem(404, "not-found", "Not found", "No such action.")
    return _back(request, "suspensions")


@router.get("/incidents", response_class=HTMLResponse)
async def incidents(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    if principal is None:
        return _to_login(request)
    rows = await service.list_incident_reports(session, principal=principal)
    return _table(
        request, "incidents", [vars(r) for r in rows], ["category", "title", "status", "created_at"]
    )


@router.get("/network", response_class=HTMLResponse)
async def network(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    if principal is None:
        return _to_login(request)
    current = await service.network_settings(session, principal=principal)
    columns = [
        "name", "municipality_codes", "retention_years", "support_hours", "withdrawal_mode", "totp_allowed",
        "password_only_allowed", "operator_issues_users", "password_history_count", "session_idle_minutes",
        "session_absolute_hours", "lockout_threshold",
    ]  # fmt: skip
    policy = await directory.policy(session, principal=principal)
    return _table(request, "network", [vars(current)], columns, vertical=True, directory_policy=policy)


@router.get("/audit", response_class=HTMLResponse)
async def audit(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    """The operator's search over every service's audit log (S2), newest first, with each chain's check."""
    if principal is None:
        return _to_login(request)
    return await audit_search.page_response(request, session, principal)


@router.get("/audit.csv")
async def audit_export(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    """The same search as CSV for a spreadsheet (UTF-8 with BOM, RFC 4180, formulas kept inert)."""
    if principal is None:
        return _to_login(request)
    return await audit_search.export_response(request, session, principal)
