"""The admin UI's pages (under /admin): sign-in, applications, facilities, users, suspensions, incidents, network.

Approving, rejecting and suspending go through a confirmation page first (identity.admin.decisions); the audit
search's pages are identity.audit_search.api; what all pages share is identity.admin.pages.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from yui_common.auth import ACCESS_COOKIE, presented_certificate_fingerprint
from yui_common.db import DbSession
from yui_common.problems import Problem
from yui_common.reference_numbers import normalise_reference_number, reference_number
from yui_common.web import render

from identity.accounts import service as accounts_service
from identity.accounts.authentication import source_address_of
from identity.admin import repository, service
from identity.admin.decisions import router as decisions_router
from identity.admin.pages import (
    AdminPrincipal,
    FacilityPagePrincipal,
    OperatorPagePrincipal,
    back,
    page,
    same_origin,
    table,
    to_home,
    to_login,
)
from identity.auth import OPERATOR
from identity.directory import service as directory_service
from identity.directory.schemas import DirectoryPolicy, PublicationUpdate
from identity.facilities import service as facilities_service
from identity.incidents import service as incidents_service
from identity.networks import service as networks_service
from identity.problems import SignInRefused, forbidden
from identity.sessions import service as sessions_service
from identity.sessions.schemas import SessionTokens
from identity.suspensions import service as suspensions_service

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
# First: its /users/{id}/suspension must come before /users/{id}/{action} below.
router.include_router(decisions_router)


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
    outcome = await sessions_service.login(
        session,
        settings=request.app.state.settings,
        tenant=tenant,
        login_id=login_id,
        password=password,
        totp_code=totp_code or None,
        cert_fingerprint=presented_certificate_fingerprint(request),
        source_address=source_address_of(request),
        user_agent=request.headers.get("user-agent"),
    )
    if not isinstance(outcome, SessionTokens):
        # Rendered, not raised: the failed attempt's audit entry and throttling counts must commit.
        # A suspended network (ten3) says so; every other refusal reads the same.
        suspended = outcome.slug == "network-suspended"
        # An initial or expired password (a new network's first operator, issue 11): the staff sign-in changes
        # it and enrols the second factor (the same flows), then this form signs in.
        change_first = outcome.slug == "password-change-required"
        page = render(
            request,
            "admin_login.html",
            {
                "failed": not suspended and not change_first,
                "network_suspended": suspended,
                "password_change_tenant": tenant if change_first else None,
            },
            status_code=outcome.status,
        )
        if isinstance(outcome, SignInRefused) and outcome.retry_after_s:
            page.headers["Retry-After"] = str(outcome.retry_after_s)
        return page
    response = to_home(request)
    response.set_cookie(
        ACCESS_COOKIE,
        outcome.access_token,
        max_age=outcome.expires_in,
        httponly=True,
        secure=True,
        samesite="strict",
    )
    return response


@router.get("", response_class=HTMLResponse)
async def admin_home(
    request: Request, principal: FacilityPagePrincipal, manager: AdminPrincipal, session: DbSession
) -> Response:
    if principal is None:
        return to_login(request)
    if manager is None:
        return back(request, "users")
    overview = await service.admin_overview(session, principal=manager)
    return page(request, "admin_home.html", {"overview": overview, "principal": principal, "current": "home"})


@router.get("/applications", response_class=HTMLResponse)
async def applications(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    """The applications waiting for a decision; by reference number (受付番号), any application, decided or not."""
    if principal is None:
        return to_login(request)
    typed = request.query_params.get("reference", "").strip()[:20]
    if typed:
        wanted = normalise_reference_number(typed)
        found = await repository.applications(session, tenant=principal.tenant)
        rows = [f for f in found if reference_number(f.id) == wanted]
    else:
        rows = list(await facilities_service.list_facilities(session, principal=principal, status="applied"))
    return table(
        request,
        "applications",
        [{**vars(r), "reference": reference_number(r.id)} for r in rows],
        [
            "reference",
            "name",
            "kind",
            "status",
            "address",
            "administrator_name",
            "administrator_email",
            "applied_at",
        ],
        actions="applications" if principal.has_role(OPERATOR) else None,
        reference_search={"value": typed},
    )


@router.get("/facilities", response_class=HTMLResponse)
async def facilities(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    if principal is None:
        return to_login(request)
    rows = await facilities_service.list_facilities(session, principal=principal, status=None)
    return table(
        request,
        "facilities",
        [vars(r) for r in rows],
        ["name", "kind", "status", "phone", "published", "directory_withheld"],
        actions="facilities",
        operator=principal.has_role(OPERATOR),
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
    if principal is None or not same_origin(request):
        return to_login(request)
    if action == "withholding":
        changes = PublicationUpdate(withheld_by_operator=True, withheld_reason=reason.strip() or None)
    elif action == "release":
        changes = PublicationUpdate(withheld_by_operator=False)
    else:
        raise Problem(404, "not-found", "Not found", "No such action.")
    await directory_service.change_publication(
        session, principal=principal, facility_id=facility_id, changes=changes
    )
    return back(request, "facilities")


@router.post("/network/directory-policy", response_class=HTMLResponse)
async def directory_policy(
    request: Request,
    principal: AdminPrincipal,
    session: DbSession,
    opt_in_only: Annotated[bool, Form()] = False,
) -> Response:
    """P1: whether the directory lists only facilities that opted in (some networks' rule, Ko21-2)."""
    if principal is None or not same_origin(request):
        return to_login(request)
    await directory_service.change_policy(
        session, principal=principal, changes=DirectoryPolicy(opt_in_only=opt_in_only)
    )
    return back(request, "network")


@router.get("/users", response_class=HTMLResponse)
async def users(request: Request, principal: FacilityPagePrincipal, session: DbSession) -> Response:
    if principal is None:
        return to_login(request)
    found = await accounts_service.list_users(session, principal=principal, facility_id=None)
    facilities = await repository.facilities_by_id(
        session, tenant=principal.tenant, facility_ids={u.facility_id for u in found}
    )
    rows = [
        {**accounts_service.user_read(u).model_dump(), "facility": facilities[u.facility_id].name}
        for u in found
    ]
    columns = [
        "display_name",
        "login_id",
        "facility",
        "profession",
        "roles",
        "status",
        "locked",
        "totp_enrolled",
    ]
    return table(request, "users", rows, columns, actions="users")


@router.post("/users/{user_id}/{action}", response_class=HTMLResponse)
async def user_action(
    user_id: UUID, action: str, request: Request, principal: FacilityPagePrincipal, session: DbSession
) -> Response:
    if principal is None or not same_origin(request):
        return to_login(request)
    if action == "unlock":
        await accounts_service.unlock_user(session, principal=principal, user_id=user_id)
        return back(request, "users")
    if action == "password-reissue":
        user, password = await accounts_service.reissue_password(
            session, principal=principal, user_id=user_id
        )
        return page(request, "admin_issued.html", {"user": user, "initial_password": password})
    raise Problem(404, "not-found", "Not found", "No such action.")


@router.get("/facility", response_class=HTMLResponse)
async def own_facility(request: Request, principal: FacilityPagePrincipal, session: DbSession) -> Response:
    """A facility administrator's own entry, including whether the portal publishes it (P1)."""
    if principal is None or principal.facility_id is None:
        return to_login(request)
    facility = await facilities_service.get_facility(
        session, principal=principal, facility_id=principal.facility_id
    )
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
    return table(request, "facility", [vars(facility)], columns, vertical=True, change_form=True)


@router.get("/suspensions", response_class=HTMLResponse)
async def suspensions(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    if principal is None:
        return to_login(request)
    found = await suspensions_service.list_suspensions(session, principal=principal, open_only=False)
    people = await repository.people_by_id(
        session, tenant=principal.tenant, user_ids={s.target_id for s in found if s.target_kind == "user"}
    )
    facilities = await repository.facilities_by_id(
        session,
        tenant=principal.tenant,
        facility_ids={s.target_id for s in found if s.target_kind == "facility"}
        | {f.id for _, f in people.values()},
    )
    rows = []
    for suspension in found:
        if suspension.target_kind == "user" and suspension.target_id in people:
            user, facility = people[suspension.target_id]
            target = f"{user.display_name}（{facility.name}）"
        elif suspension.target_id in facilities:
            target = facilities[suspension.target_id].name
        else:
            target = ""
        rows.append({**vars(suspension), "target": target})
    return table(
        request,
        "suspensions",
        rows,
        [
            "target_kind",
            "target",
            "reason",
            "suspended_by_role",
            "created_at",
            "acknowledged_at",
            "lifted_at",
        ],
        actions="suspensions",
        operator=principal.has_role(OPERATOR),
    )


@router.post("/suspensions/{suspension_id}/{action}")
async def suspension_action(
    suspension_id: UUID,
    action: str,
    request: Request,
    principal: AdminPrincipal,
    operator: OperatorPagePrincipal,
    session: DbSession,
) -> Response:
    if principal is None or not same_origin(request):
        return to_login(request)
    if operator is None:
        raise forbidden()
    if action == "acknowledgement":
        await suspensions_service.acknowledge_suspension(
            session, principal=principal, suspension_id=suspension_id
        )
        return back(request, "suspensions", "acknowledged")
    if action == "lifting":
        await suspensions_service.lift_suspension(session, principal=principal, suspension_id=suspension_id)
        return back(request, "suspensions", "lifted")
    raise Problem(404, "not-found", "Not found", "No such action.")


@router.get("/incidents", response_class=HTMLResponse)
async def incidents(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    if principal is None:
        return to_login(request)
    rows = await incidents_service.list_incident_reports(session, principal=principal)
    return table(
        request,
        "incidents",
        [{**vars(r), "incident_status": r.status} for r in rows],
        ["category", "title", "incident_status", "created_at"],
    )


@router.get("/network", response_class=HTMLResponse)
async def network(request: Request, principal: AdminPrincipal, session: DbSession) -> Response:
    if principal is None:
        return to_login(request)
    current = await networks_service.network_settings(session, principal=principal)
    columns = [
        "name", "municipality_codes", "retention_years", "support_hours", "withdrawal_mode", "totp_allowed",
        "created_as_demo", "password_only_allowed", "operator_issues_users", "password_history_count", "session_idle_minutes",
        "session_absolute_hours", "lockout_threshold",
    ]  # fmt: skip
    policy = await directory_service.policy(session, principal=principal)
    return table(
        request,
        "network",
        [vars(current)],
        columns,
        vertical=True,
        directory_policy=policy,
        operator_may_edit_network=principal.has_role(OPERATOR),  # identity.networks.pages
    )
