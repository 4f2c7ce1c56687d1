"""The admin pages' decisions, each behind a confirmation page: approving or rejecting an application, and
suspending a facility or a user.

GET shows what will happen, to whom, and the one button that does it (with the reason where one is needed);
POST acts. A confirmation page works without script (the CSP allows none inline), on a tablet as on a desk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from yui_common.auth import Principal
from yui_common.db import DbSession
from yui_common.problems import Problem
from yui_common.reference_numbers import reference_number
from yui_common.vocabulary import facility_kind_label, profession_label, status_label
from yui_common.web import language_of, local_time

from identity.admin import repository
from identity.admin.pages import AdminPrincipal, OperatorPagePrincipal, back, page, same_origin, to_login
from identity.auth import OPERATOR
from identity.facilities import service as facilities_service
from identity.problems import forbidden
from identity.revocations.api import commit_and_await_revocations
from identity.suspensions import service as suspensions_service

router = APIRouter()
Reason = Annotated[str, Form(max_length=2000)]


@dataclass
class Confirmation:
    """What admin_confirm.html shows: catalogue keys, except ``name`` and the facts' values (data)."""

    title: str
    question: str
    name: str
    action: str
    submit: str
    cancel: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    consequences: list[str] = field(default_factory=list)
    reason: str | None = None  # the reason field's label, when a reason is asked for
    reason_hint: str = "admin.confirm.reason_hint"
    danger: bool = False


def _confirm(
    request: Request,
    confirmation: Confirmation,
    *,
    current: str,
    error: str | None = None,
    reason: str = "",
) -> HTMLResponse:
    context = {"confirm": confirmation, "current": current, "error": error, "reason": reason}
    return page(request, "admin_confirm.html", context, status_code=422 if error else 200)


def _site(request: Request) -> str:
    """The address people type to reach the portal: the gateway's host, as the browser used it."""
    return f"https://{request.headers.get('host', '')}"


# --- applications (I1) ----------------------------------------------------------------------------------------


async def _application(
    request: Request, session: DbSession, principal: Principal, facility_id: UUID
) -> list[tuple[str, str]]:
    facility = await facilities_service.get_facility(session, principal=principal, facility_id=facility_id)
    if facility.status != "applied":
        raise Problem(409, "conflict", "Already decided", "The application was already decided.")
    lang = language_of(request)
    return [
        ("admin.field.reference", reference_number(facility.id)),
        ("admin.field.name", facility.name),
        ("admin.field.kind", facility_kind_label(facility.kind, lang)),
        ("admin.field.address", facility.address or ""),
        ("admin.field.phone", facility.phone or ""),
        ("admin.field.administrator_name", facility.administrator_name or ""),
        ("admin.field.administrator_email", facility.administrator_email or ""),
        ("admin.field.login_id", facility.administrator_login_id or ""),
        ("admin.field.applied_at", local_time(facility.applied_at)),
    ]


def _approval(facility_id: UUID, request: Request, facts: list[tuple[str, str]]) -> Confirmation:
    return Confirmation(
        title="admin.confirm.approve_title",
        question="admin.confirm.approve_question",
        name=facts[1][1],
        action=f"{request.scope.get('root_path', '')}/admin/applications/{facility_id}/approval",
        submit="admin.confirm.approve_submit",
        cancel="applications",
        facts=facts,
        consequences=["admin.confirm.approve_effect_account", "admin.confirm.approve_effect_notice"],
    )


def _rejection(facility_id: UUID, request: Request, facts: list[tuple[str, str]]) -> Confirmation:
    return Confirmation(
        title="admin.confirm.reject_title",
        question="admin.confirm.reject_question",
        name=facts[1][1],
        action=f"{request.scope.get('root_path', '')}/admin/applications/{facility_id}/rejection",
        submit="admin.confirm.reject_submit",
        cancel="applications",
        facts=facts,
        consequences=["admin.confirm.reject_effect"],
        reason="admin.confirm.reject_reason",
        reason_hint="admin.confirm.reject_reason_hint",
        danger=True,
    )


@router.get("/applications/{facility_id}/approval", response_class=HTMLResponse)
async def approval_page(
    facility_id: UUID,
    request: Request,
    principal: AdminPrincipal,
    operator: OperatorPagePrincipal,
    session: DbSession,
) -> Response:
    if principal is None:
        return to_login(request)
    if operator is None:
        raise forbidden()
    facts = await _application(request, session, operator, facility_id)
    return _confirm(request, _approval(facility_id, request, facts), current="applications")


@router.post("/applications/{facility_id}/approval", response_class=HTMLResponse)
async def approve(
    facility_id: UUID,
    request: Request,
    principal: AdminPrincipal,
    operator: OperatorPagePrincipal,
    session: DbSession,
) -> Response:
    if principal is None or not same_origin(request):
        return to_login(request)
    if operator is None:
        raise forbidden()
    approval = await facilities_service.approve_application(
        session, principal=principal, facility_id=facility_id
    )
    context = {
        "approval": approval,
        "reference": reference_number(approval.facility.id),
        "site": _site(request),
        "attempts": request.app.state.settings.access_code_attempts,
        "current": "applications",
    }
    response = page(request, "admin_approved.html", context)
    # A password, an access code and a PIN: no cache may keep this page.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/applications/{facility_id}/rejection", response_class=HTMLResponse)
async def rejection_page(
    facility_id: UUID,
    request: Request,
    principal: AdminPrincipal,
    operator: OperatorPagePrincipal,
    session: DbSession,
) -> Response:
    if principal is None:
        return to_login(request)
    if operator is None:
        raise forbidden()
    facts = await _application(request, session, operator, facility_id)
    return _confirm(request, _rejection(facility_id, request, facts), current="applications")


@router.post("/applications/{facility_id}/rejection", response_class=HTMLResponse)
async def reject(
    facility_id: UUID,
    request: Request,
    principal: AdminPrincipal,
    operator: OperatorPagePrincipal,
    session: DbSession,
    reason: Reason = "",
) -> Response:
    if principal is None or not same_origin(request):
        return to_login(request)
    if operator is None:
        raise forbidden()
    if not reason.strip():
        facts = await _application(request, session, operator, facility_id)
        return _confirm(
            request,
            _rejection(facility_id, request, facts),
            current="applications",
            error="admin.confirm.reason_required",
        )
    await facilities_service.reject_application(
        session, principal=principal, facility_id=facility_id, reason=reason.strip()
    )
    return back(request, "applications", "rejected")


# --- suspensions (I8, I9) -------------------------------------------------------------------------------------


async def _target(
    request: Request, session: DbSession, principal: Principal, kind: str, target_id: UUID
) -> tuple[str, list[tuple[str, str]]]:
    """The name and the facts of a facility or user of the caller's network about to be suspended."""
    lang = language_of(request)
    if kind == "facility":
        facilities = await repository.facilities_by_id(
            session, tenant=principal.tenant, facility_ids=[target_id]
        )
        if target_id not in facilities:
            raise Problem(404, "not-found", "Not found", "No such facility in this network.")
        facility = facilities[target_id]
        return facility.name, [
            ("admin.field.name", facility.name),
            ("admin.field.kind", facility_kind_label(facility.kind, lang)),
            ("admin.field.status", status_label(facility.status, lang)),
        ]
    people = await repository.people_by_id(session, tenant=principal.tenant, user_ids=[target_id])
    if target_id not in people:
        raise Problem(404, "not-found", "Not found", "No such user in this network.")
    user, facility = people[target_id]
    return user.display_name, [
        ("admin.field.display_name", user.display_name),
        ("admin.field.profession", profession_label(user.profession, lang)),
        ("admin.field.facility", facility.name),
        ("admin.field.status", status_label(user.status, lang)),
    ]


def _suspension(
    request: Request,
    principal: Principal,
    kind: str,
    target_id: UUID,
    name: str,
    facts: list[tuple[str, str]],
) -> Confirmation:
    emergency = not principal.has_role(OPERATOR)  # a contractor suspends only in an emergency, as a report
    pages = "facilities" if kind == "facility" else "users"
    consequences = [f"admin.confirm.suspend_effect_{kind}", "admin.confirm.suspend_effect_lift"]
    if emergency:
        consequences.append("admin.confirm.suspend_effect_report")
    return Confirmation(
        title=f"admin.confirm.suspend_{kind}_title",
        question=f"admin.confirm.suspend_{kind}_question",
        name=name,
        action=f"{request.scope.get('root_path', '')}/admin/{pages}/{target_id}/suspension",
        submit="admin.confirm.suspend_submit",
        cancel=pages,
        facts=facts,
        consequences=consequences,
        reason="admin.confirm.suspend_reason",
        reason_hint="admin.confirm.suspend_reason_hint",
        danger=True,
    )


async def _suspension_page(
    request: Request, session: DbSession, principal: Principal | None, kind: str, target_id: UUID
) -> Response:
    if principal is None:
        return to_login(request)
    name, facts = await _target(request, session, principal, kind, target_id)
    current = "facilities" if kind == "facility" else "users"
    return _confirm(request, _suspension(request, principal, kind, target_id, name, facts), current=current)


async def _suspend(
    request: Request, session: DbSession, principal: Principal | None, kind: str, target_id: UUID, reason: str
) -> Response:
    if principal is None or not same_origin(request):
        return to_login(request)
    name, facts = await _target(request, session, principal, kind, target_id)
    current = "facilities" if kind == "facility" else "users"
    if not reason.strip():
        confirmation = _suspension(request, principal, kind, target_id, name, facts)
        return _confirm(request, confirmation, current=current, error="admin.confirm.reason_required")
    await suspensions_service.suspend(
        session,
        principal=principal,
        target_kind=kind,
        target_id=target_id,
        reason=reason.strip(),
        emergency=not principal.has_role(OPERATOR),
    )
    # As the API does: commit, then wait (a few seconds at most) until every service refuses the tokens.
    propagation = await commit_and_await_revocations(request, session, Response())
    done = "suspended" if propagation is None or propagation.complete else "suspended_pending"
    return back(request, current, done)


@router.get("/facilities/{facility_id}/suspension", response_class=HTMLResponse)
async def facility_suspension_page(
    facility_id: UUID, request: Request, principal: AdminPrincipal, session: DbSession
) -> Response:
    return await _suspension_page(request, session, principal, "facility", facility_id)


@router.post("/facilities/{facility_id}/suspension", response_class=HTMLResponse)
async def suspend_facility(
    facility_id: UUID, request: Request, principal: AdminPrincipal, session: DbSession, reason: Reason = ""
) -> Response:
    return await _suspend(request, session, principal, "facility", facility_id, reason)


@router.get("/users/{user_id}/suspension", response_class=HTMLResponse)
async def user_suspension_page(
    user_id: UUID, request: Request, principal: AdminPrincipal, session: DbSession
) -> Response:
    return await _suspension_page(request, session, principal, "user", user_id)


@router.post("/users/{user_id}/suspension", response_class=HTMLResponse)
async def suspend_user(
    user_id: UUID, request: Request, principal: AdminPrincipal, session: DbSession, reason: Reason = ""
) -> Response:
    return await _suspend(request, session, principal, "user", user_id, reason)
