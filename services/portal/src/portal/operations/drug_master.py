"""The operator's 医薬品マスター page (rec2): how many products the network's drug master holds and when it was
imported, and the upload that replaces it with the MHLW price list saved as one CSV (timeline reads and checks
the file; a wrong row refuses the whole file, named by row, and nothing is replaced)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from portal.clients.base import ServiceProblem
from portal.clients.timeline import TimelineClient
from portal.operations.pages import operator_session
from portal.public.pages import page
from portal.session import StaffSession

router = APIRouter(prefix="/operator", tags=["operator"], include_in_schema=False)
MAX_BYTES = 32 * 1024 * 1024  # timeline's limit: the whole list is about 20,000 rows, a few MB
FLASH = "drug_master_imported"


async def _page(
    request: Request,
    staff: StaffSession,
    *,
    error: str | None = None,
    detail: str = "",
    row_errors: list[dict[str, Any]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    timeline = TimelineClient(request, staff.token)
    try:
        status = await timeline.drug_master_status()
    except (ServiceProblem, ValidationError):
        status = None  # the page still takes an upload; the count is said to be unknown
    context = {
        "staff": staff,
        "csrf": staff.csrf,
        "status": status,
        "error": error,
        "detail": detail,
        "row_errors": row_errors or [],
        "flash": FLASH if request.query_params.get("done") == FLASH and error is None else None,
        "max_mb": MAX_BYTES // (1024 * 1024),
    }
    response = page(request, "operator/drug_master.html", context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/drug-master", response_class=HTMLResponse)
async def drug_master(request: Request) -> HTMLResponse:
    return await _page(request, await operator_session(request))


@router.post("/drug-master", response_model=None)
async def import_drug_master(request: Request) -> Response:
    """The CSV replaces the network's master; a refused file is answered on the page with its rows' errors."""
    staff = await operator_session(request)  # and the form's CSRF token
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _page(request, staff, error="drug_master.error.no_file", status_code=422)
    data = await upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        return await _page(request, staff, error="drug_master.error.too_large", status_code=413)
    try:
        await TimelineClient(request, staff.token).import_drug_master(data)
    except ServiceProblem as refusal:
        if refusal.session_ended or refusal.status not in (413, 415, 422):
            raise
        key = "drug_master.error.too_large" if refusal.status == 413 else "drug_master.error.refused"
        errors = [e for e in refusal.extensions.get("errors") or [] if isinstance(e, dict)]
        return await _page(
            request, staff, error=key, detail=refusal.detail, row_errors=errors, status_code=refusal.status
        )
    target = f"{request.scope.get('root_path', '')}/operator/drug-master?done={FLASH}"
    return Response(status_code=303, headers={"Location": target})
