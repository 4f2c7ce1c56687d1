"""The audit search's admin pages (S2): the operator's search over every service, and its CSV export."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from yui_common.auth import GATEWAY_IDENTITY_HEADERS, Principal, bearer_token
from yui_common.db import DbSession
from yui_common.web import language_of, render

from identity.admin import repository
from identity.admin.pages import AdminPrincipal, OperatorPagePrincipal, to_login
from identity.audit_search.names import NameResolution, entry_names, resolve_names
from identity.audit_search.service import (
    PAGE_SIZE,
    SERVICES,
    AuditForm,
    AuditSources,
    csv_document,
    decode_page_cursor,
    local_time,
    read_form,
    search_all,
    search_page,
    zone_of,
)
from identity.settings import Settings

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)


def _sources(request: Request, session: DbSession, principal: Principal) -> AuditSources:
    # The operator's own credentials: the token, and the certificate the gateway verified it is bound to.
    credentials = {"Authorization": f"Bearer {bearer_token(request) or ''}"}
    for name in GATEWAY_IDENTITY_HEADERS:
        if name in request.headers:
            credentials[name] = request.headers[name]
    return AuditSources(
        session=session,
        principal=principal,
        settings=request.app.state.settings,
        credentials=credentials,
        clients=getattr(request.app.state, "audit_service_clients", {}),
    )


def _render(request: Request, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    zone = zone_of(request.app.state.settings)
    principal: Principal | None = getattr(request.state, "principal", None)
    return render(
        request,
        "admin_audit.html",
        {
            "manager": True,  # only operators and contractors reach these routes
            "current": "audit",
            "signed_in_name": principal.name if principal is not None else "",
            "services": SERVICES,
            # Seconds matter in an access log; microseconds and offsets do not belong on the page.
            "when": lambda moment: local_time(moment, zone).strftime("%Y-%m-%d %H:%M:%S"),
            "zone": str(zone),
            "result": None,
            "names": None,
            "resolution": NameResolution(),
            "facilities": [],
            "forbidden": False,
            **context,
        },
        status_code=status_code,
    )


def _checked(
    request: Request, principal: Principal | None, operator: Principal | None
) -> tuple[AuditForm, Principal] | Response:
    """The parsed form and the operator, or the page that answers instead (sign in first, not an operator, or
    input to correct)."""
    if principal is None:
        return to_login(request)
    form = read_form(request.query_params, zone_of(request.app.state.settings))
    if operator is None:
        return _render(request, {"form": form, "forbidden": True}, status_code=403)
    if form.cursor is not None:
        try:
            decode_page_cursor(form.cursor)
        except ValueError:
            form.errors.append("audit.error.cursor")
    if form.errors:
        return _render(request, {"form": form}, status_code=422)
    return form, operator


def _query_string(form: AuditForm, **extra: str) -> str:
    values = {name: value for name, value in form.values.items() if value}
    if form.limit != PAGE_SIZE:
        values["limit"] = str(form.limit)
    return urlencode({**values, **extra})


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request, principal: AdminPrincipal, operator: OperatorPagePrincipal, session: DbSession
) -> Response:
    """The operator's search over every service's audit log (S2), newest first, with each chain's check: by
    patient name, user name, facility and period, the results naming people instead of showing ids."""
    checked = _checked(request, principal, operator)
    if isinstance(checked, Response):
        return checked
    form, operator = checked
    lang = language_of(request)
    facilities = await repository.facilities_of_network(session, tenant=operator.tenant)
    # Walking a chain reads every entry the service ever wrote: only when the operator asks for it (a link on
    # the page), never as a cost of every search.
    verify = request.query_params.get("verify") == "1"
    async with _sources(request, session, operator) as sources:
        resolution = await resolve_names(sources, session, operator, form, lang)
        if not resolution.ready:
            context = {"form": form, "resolution": resolution, "facilities": facilities}
            return _render(request, context)
        result = await search_page(sources, form, verify=verify)
        names = await entry_names(sources, session, operator, result.entries, lang)
    return _render(
        request,
        {
            "form": form,
            "result": result,
            "names": names,
            "resolution": resolution,
            "facilities": facilities,
            "next_query": _query_string(form, cursor=result.next_cursor) if result.next_cursor else None,
            "first_query": _query_string(form) if form.cursor else None,
            "export_query": _query_string(form),
            "verify_query": _query_string(form, verify="1"),
            "verified_here": verify,
        },
    )


@router.get("/audit.csv")
async def audit_export(
    request: Request, principal: AdminPrincipal, operator: OperatorPagePrincipal, session: DbSession
) -> Response:
    """The same search as CSV for a spreadsheet (UTF-8 with BOM, RFC 4180, formulas kept inert)."""
    checked = _checked(request, principal, operator)
    if isinstance(checked, Response):
        return checked
    form, operator = checked
    async with _sources(request, session, operator) as sources:
        resolution = await resolve_names(sources, session, operator, form, language_of(request))
        if not resolution.ready:  # the page asks which of the people the name matched was meant
            facilities = await repository.facilities_of_network(session, tenant=operator.tenant)
            return _render(request, {"form": form, "resolution": resolution, "facilities": facilities})
        result = await search_all(sources, form)
    settings: Settings = request.app.state.settings
    body = csv_document(result.entries, lang=language_of(request), zone=zone_of(settings))
    stamp = datetime.now(zone_of(settings)).strftime("%Y%m%d-%H%M%S")
    headers = {
        "Content-Disposition": f'attachment; filename="yui-audit-{stamp}.csv"',
        # Access logs are personal data: no cache on the way may keep a copy.
        "Cache-Control": "no-store",
        # A spreadsheet cannot show these, so the page that offers the export lists them too.
        "X-Yui-Audit-Unanswered": ",".join(result.unanswered),
    }
    if result.truncated:
        headers["X-Yui-Audit-Truncated"] = "true"
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
