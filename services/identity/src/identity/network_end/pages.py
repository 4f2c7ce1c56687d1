"""The contractor's console for ending a network (issue 11, ten4), under /admin/platform/networks/<slug>/ending:
its exports and its end with each service's progress in words and Japan time, exporting (of a suspended network),
downloading a complete export as one zip, and ending it after a confirmation that names what goes.

Signed in and form-checked as the rest of the console (identity.platform.api)."""

from __future__ import annotations

import tempfile
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from yui_common.db import DbSession
from yui_common.problems import Problem, not_found

from identity.admin.pages import same_origin
from identity.network_end import service
from identity.network_end.archive import write_archive
from identity.platform import service as platform
from identity.platform.api import Contractor, _page, _to

router = APIRouter(prefix="/admin/platform/networks/{slug}", tags=["platform"], include_in_schema=False)

# What each service's part is, in words (the i18n keys network_end.service.<name>).
FLASHES = frozenset({"export_requested", "end_requested", "end_retried"})


async def _progress_page(
    request: Request,
    session: DbSession,
    contractor: Contractor,
    slug: str,
    *,
    problem: Problem | None = None,
    status: int = 200,
) -> Response:
    state = await service.network_end_state(session, slug)
    network = await platform.network_detail(session, slug)
    done = request.query_params.get("done")
    exports = [o for o in state.operations if o.kind == "export"]
    ends = [o for o in state.operations if o.kind == "end"]
    ready = next(
        (
            o
            for o in exports
            if o.completed_at is not None
            and (state.suspended_at is None or o.requested_at >= state.suspended_at)
        ),
        None,
    )
    return _page(
        request,
        "platform_network_end.html",
        {
            "network": network,
            "state": state,
            "exports": exports,
            "ends": ends,
            "ready_export": ready,
            "done": done if done in FLASHES else None,
            "problem": problem,
        },
        contractor,
        status,
    )


@router.get("/ending", response_class=HTMLResponse)
async def ending_page(slug: str, request: Request, contractor: Contractor, session: DbSession) -> Response:
    if contractor is None:
        return _to(request)
    return await _progress_page(request, session, contractor, slug)


@router.post("/exports", response_class=HTMLResponse)
async def export(slug: str, request: Request, contractor: Contractor, session: DbSession) -> Response:
    if contractor is None or not same_origin(request):
        return _to(request)
    try:
        await service.request_export(
            session, settings=request.app.state.settings, actor=f"platform:{contractor.id}", slug=slug
        )
    except Problem as problem:
        if problem.status == 404:
            raise
        return await _progress_page(
            request, session, contractor, slug, problem=problem, status=problem.status
        )
    return _to(request, f"/networks/{slug}/ending?done=export_requested")


@router.get("/exports/{operation_id}/archive")
async def download_export(
    slug: str, operation_id: UUID, request: Request, contractor: Contractor, session: DbSession
) -> Response:
    """The complete export as one zip (built from the parts in the exports bucket)."""
    if contractor is None:
        return _to(request)
    operation = await service.operation_read(session, operation_id)
    if operation.network != slug or operation.kind != "export" or operation.completed_at is None:
        raise not_found("export")
    name = (await service.network_end_state(session, slug)).name
    file = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the response has streamed it
    try:
        await write_archive(request.app.state.settings, operation, name, file)
    except BaseException:
        file.close()
        raise
    file.seek(0)

    def chunks() -> object:
        try:
            while block := file.read(1024 * 1024):
                yield block
        finally:
            file.close()

    stamp = operation.requested_at.strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        chunks(),  # type: ignore[arg-type]
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{slug}-export-{stamp}.zip"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/end/confirmation", response_class=HTMLResponse)
async def confirm_end(slug: str, request: Request, contractor: Contractor, session: DbSession) -> Response:
    """Ending deletes a whole network for good: the contractor sees what goes and types its slug to confirm."""
    if contractor is None or not same_origin(request):
        return _to(request)
    network = await platform.network_detail(session, slug)
    return _page(request, "platform_confirm_end.html", {"network": network, "mismatch": False}, contractor)


@router.post("/end", response_class=HTMLResponse)
async def end(
    slug: str,
    request: Request,
    contractor: Contractor,
    session: DbSession,
    confirmed: Annotated[str, Form(max_length=8)] = "",
    typed_slug: Annotated[str, Form(max_length=63)] = "",
) -> Response:
    if contractor is None or not same_origin(request):
        return _to(request)
    network = await platform.network_detail(session, slug)
    retry = network.status == "ending"
    if not retry and (confirmed != "yes" or typed_slug.strip() != slug):
        return _page(
            request, "platform_confirm_end.html", {"network": network, "mismatch": True}, contractor, 422
        )
    try:
        await service.end_network(session, actor=f"platform:{contractor.id}", slug=slug)
    except Problem as problem:
        if problem.status == 404:
            raise
        return await _progress_page(
            request, session, contractor, slug, problem=problem, status=problem.status
        )
    return _to(request, f"/networks/{slug}/ending?done={'end_retried' if retry else 'end_requested'}")
