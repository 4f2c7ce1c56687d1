"""The operator's form for the network's rules (/admin/network/settings, item 2 of issue 11): municipalities
by name, operator's office, support hours, retention, notice period, attachment limit, withdrawal mode and
second factor. Each change is audited and reaches every service by identity.network-settings-changed.v1
(networks.service.update_network_settings)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from yui_common.db import DbSession
from yui_common.problems import Problem

from identity.admin.pages import OperatorPagePrincipal, page, same_origin, to_login
from identity.models import Network
from identity.networks import service
from identity.networks.schemas import NetworkSettings
from identity.platform.service import municipality_reads

router = APIRouter(prefix="/admin/network/settings", tags=["admin"], include_in_schema=False)
MB = 1024 * 1024


def _values(network: Network) -> dict[str, Any]:
    return {
        "name": network.name,
        "municipality_codes": " ".join(network.municipality_codes),
        "operator_office": network.operator_office,
        "support_hours": network.support_hours,
        "retention_years": network.retention_years,
        "discontinuation_notice_months": network.discontinuation_notice_months,
        "max_attachment_mb": network.max_attachment_bytes // MB,
        "withdrawal_mode": network.withdrawal_mode,
        "totp_allowed": "true" if network.totp_allowed else "false",
    }


def _form(
    request: Request,
    network: Network,
    values: dict[str, Any],
    *,
    errors: list[str],
    problem: Problem | None = None,
) -> HTMLResponse:
    return page(
        request,
        "network_settings.html",
        {
            "current": "network",
            "values": values,
            "errors": errors,
            "problem": problem,
            "municipalities": municipality_reads(list(network.municipality_codes)),
            "saved": request.query_params.get("done") == "saved",
        },
        status_code=422 if errors or problem else 200,
    )


@router.get("", response_class=HTMLResponse)
async def settings_form(request: Request, operator: OperatorPagePrincipal, session: DbSession) -> Response:
    if operator is None:
        return to_login(request)
    network = await service.network_settings(session, principal=operator)
    return _form(request, network, _values(network), errors=[])


@router.post("", response_class=HTMLResponse)
async def save_settings(request: Request, operator: OperatorPagePrincipal, session: DbSession) -> Response:
    if operator is None or not same_origin(request):
        return to_login(request)
    network = await service.network_settings(session, principal=operator)
    form = await request.form()
    values = {name: str(form.get(name, "")).strip() for name in _values(network)}
    try:
        changes = NetworkSettings.model_validate(
            {
                "name": values["name"],
                "municipality_codes": [c for c in re.split(r"[\s,、，]+", values["municipality_codes"]) if c],
                "operator_office": values["operator_office"],
                "support_hours": values["support_hours"],
                "retention_years": values["retention_years"],
                "discontinuation_notice_months": values["discontinuation_notice_months"],
                "max_attachment_bytes": int(values["max_attachment_mb"] or 0) * MB,
                "withdrawal_mode": values["withdrawal_mode"],
                "totp_allowed": values["totp_allowed"] == "true",
            }
        )
    except (ValidationError, ValueError) as exc:
        errors = (
            sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
            if isinstance(exc, ValidationError)
            else ["max_attachment_mb"]
        )
        return _form(
            request,
            network,
            values,
            errors=[e.replace("max_attachment_bytes", "max_attachment_mb") for e in errors],
        )
    try:
        outcome = await service.update_network_settings(session, principal=operator, changes=changes)
    except Problem as problem:  # a municipality code refused (ten5): nothing was changed
        return _form(request, network, values, errors=[], problem=problem)
    if isinstance(outcome, Problem):
        return _form(request, network, values, errors=[], problem=outcome)
    return RedirectResponse(f"{request.scope.get('root_path', '')}/admin/network/settings?done=saved", 303)
