"""The operator's pages: maintenance switch, notices, terms versions, inquiries and portal settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from yui_common.db import DbSession
from yui_common.problems import Problem
from yui_common.web import language_of

from portal.notices import service as notices
from portal.notices.schemas import NoticeCreate, PortalSettingsUpdate, TermsCreate
from portal.operations import maintenance
from portal.public import inquiries
from portal.public.hours import LOCAL_TIME, closed_period_label
from portal.public.pages import page
from portal.session import StaffSession, require_staff

router = APIRouter(prefix="/operator", tags=["operator"], include_in_schema=False)


async def operator_session(request: Request) -> StaffSession:
    staff = await require_staff(request)  # and, for a POST, its CSRF token
    if not staff.has_role("operator"):
        raise Problem(403, "forbidden", "Forbidden", "The operator's pages are for the network's operator.")
    return staff


def _local(value: object) -> datetime | None:
    """A datetime-local field (the operator's local time) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TIME)


# What the page may be told was done (?done=...); anything else shows nothing.
FLASHES = frozenset(
    {"maintenance_on", "maintenance_off", "notice_posted", "notice_deleted", "terms", "settings"}
)


async def _dashboard(
    request: Request,
    session: DbSession,
    staff: StaffSession,
    error: str | None = None,
    status: int = 200,
    *,
    error_field: str | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    settings = await notices.settings_of(session, staff.tenant)
    done = request.query_params.get("done")
    lang = language_of(request)
    context: dict[str, Any] = {
        "staff": staff,
        "csrf": staff.csrf,
        "state": await maintenance.state_for(session, staff.tenant),
        "switches": await maintenance.history(session, tenant=staff.tenant, limit=10),
        "notices": await notices.visible_notices(session, tenant=staff.tenant, viewer=staff),
        "versions": await notices.terms_versions(session, tenant=staff.tenant),
        "inquiries": await inquiries.list_for_operator(session, actor=staff, limit=50),
        "settings": settings,
        "closed_periods": [closed_period_label(p, lang) for p in settings.support_closed_periods],
        "error": error,
        "error_field": error_field,  # the field the error belongs to (shown beside it), None: the page's
        "typed": typed or {},
        "flash": done if done in FLASHES and error is None else None,
    }
    response = page(request, "operator/dashboard.html", context, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # inquiries name people: never cached
    return response


@router.get("", response_class=HTMLResponse)
async def dashboard(request: Request, session: DbSession) -> HTMLResponse:
    return await _dashboard(request, session, await operator_session(request))


def _done(request: Request, done: str, section: str) -> Response:
    target = f"{request.scope.get('root_path', '')}/operator?done={done}#{section}"
    return RedirectResponse(target, status_code=303)


async def _failed(
    request: Request,
    session: DbSession,
    staff: StaffSession,
    detail: str,
    *,
    error_field: str | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    # The failed write is rolled back by the request's session; the page is rendered in a fresh state.
    await session.rollback()
    return await _dashboard(
        request, session, staff, error=detail, status=422, error_field=error_field, typed=typed
    )


@router.post("/maintenance")
async def switch_maintenance(request: Request, session: DbSession) -> Response:
    staff = await operator_session(request)
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    active = form.get("active") == "on"
    if not reason:
        # Said on the page, beside the field (the form does not rely on the browser's own check).
        key = "ops.error.reason_required_on" if active else "ops.error.reason_required_off"
        return await _failed(request, session, staff, key, error_field="reason")
    await maintenance.switch(
        session,
        scope=staff.tenant,
        active=active,
        reason=reason[:2000],
        actor_id=str(staff.user_id),
        actor_role=maintenance.OPERATOR,
        event_tenant=staff.tenant,
        expected_end=_local(form.get("expected_end")),
    )
    return _done(request, "maintenance_on" if active else "maintenance_off", "ops-maintenance")


@router.post("/notices")
async def post_notice(request: Request, session: DbSession) -> Response:
    staff = await operator_session(request)
    form = await request.form()
    try:
        notice = NoticeCreate(
            audience=str(form.get("audience", "public")),  # type: ignore[arg-type]
            kind=str(form.get("kind", "notice")),  # type: ignore[arg-type]
            title=str(form.get("title", "")),
            body=str(form.get("body", "")),
            starts_at=_local(form.get("starts_at")),
            ends_at=_local(form.get("ends_at")),
        )
        await notices.post_notice(session, actor=staff, notice=notice)
    except ValidationError:
        return await _failed(request, session, staff, "ops.error.invalid")
    except Problem as problem:
        key = "ops.error.notice_period" if problem.slug == "notice-period-too-short" else "ops.error.invalid"
        return await _failed(request, session, staff, key)
    return _done(request, "notice_posted", "ops-notices")


@router.post("/notices/{notice_id}/delete")
async def delete_notice(notice_id: UUID, request: Request, session: DbSession) -> Response:
    staff = await operator_session(request)
    await notices.delete_notice(session, actor=staff, notice_id=notice_id)
    return _done(request, "notice_deleted", "ops-notices")


@router.post("/terms")
async def publish_terms(request: Request, session: DbSession) -> Response:
    staff = await operator_session(request)
    form = await request.form()
    try:
        terms = TermsCreate(
            version=str(form.get("version", "")),
            title=str(form.get("title", "")),
            body=str(form.get("body", "")),
            summary_of_changes=str(form.get("summary_of_changes", "")),
            effective_at=_local(form.get("effective_at")),  # type: ignore[arg-type]
        )
        await notices.publish_terms(session, actor=staff, terms=terms)
    except ValidationError:
        return await _failed(request, session, staff, "ops.error.invalid")
    except Problem:
        return await _failed(request, session, staff, "ops.error.version_exists")
    return _done(request, "terms", "ops-terms")


@router.post("/settings")
async def update_settings(request: Request, session: DbSession) -> Response:
    staff = await operator_session(request)
    form = await request.form()
    try:
        changes = PortalSettingsUpdate.model_validate(
            {
                "notice_period_months": int(str(form.get("notice_period_months", "3"))),
                "operator_name": str(form.get("operator_name", "")),
                "operator_phone": str(form.get("operator_phone", "")),
                "operator_email": str(form.get("operator_email", "")),
                "support_weekdays": [int(str(d)) for d in form.getlist("support_weekdays")],
                "support_opens": str(form.get("support_opens", "")),
                "support_closes": str(form.get("support_closes", "")),
                "support_closed_periods": str(form.get("support_closed_periods", "")).split(),
                "support_holidays": str(form.get("support_holidays", "")).split(),
            }
        )
        await notices.update_settings(session, actor=staff, changes=changes)
    except (ValidationError, ValueError, Problem):
        return await _failed(request, session, staff, "ops.error.invalid")
    return _done(request, "settings", "ops-settings")
