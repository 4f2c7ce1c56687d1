"""JSON API of notices, terms of use and portal settings: the operator's writes under /api/operator."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from yui_common.auth import CurrentPrincipal, Principal, current_principal
from yui_common.db import DbSession
from yui_common.problems import not_found

from portal.notices import service
from portal.notices.schemas import (
    AcceptanceRead,
    NoticeCreate,
    NoticeRead,
    PortalSettingsRead,
    PortalSettingsUpdate,
    TermsCreate,
    TermsRead,
)

router = APIRouter(tags=["notices"])
Tenant = Annotated[str | None, Query(min_length=1, max_length=63, pattern=r"^[a-z0-9-]+$")]


async def optional_principal(request: Request, session: DbSession) -> Principal | None:
    """Signed in or not: users-only notices need a valid token; a bad one is refused, not ignored."""
    if not request.headers.get("authorization"):
        return None
    return await current_principal(request, session)


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def operator_principal(principal: CurrentPrincipal) -> Principal:
    """The network's operator, else 403 (the same refusal the use cases give)."""
    service.require_operator(principal)
    return principal


OperatorPrincipal = Annotated[Principal, Depends(operator_principal)]


def _tenant(request: Request, viewer: Principal | None, tenant: str | None) -> str:
    if viewer is not None:
        if tenant and tenant != viewer.tenant:
            raise not_found("network")
        return viewer.tenant
    default: str = request.app.state.settings.default_tenant
    return tenant or default


@router.get("/api/notices", response_model=list[NoticeRead], summary="Notices the caller may read")
async def list_notices(
    request: Request, session: DbSession, viewer: MaybePrincipal, tenant: Tenant = None
) -> list[NoticeRead]:
    rows = await service.visible_notices(session, tenant=_tenant(request, viewer, tenant), viewer=viewer)
    return [NoticeRead.model_validate(r) for r in rows]


@router.post("/api/operator/notices", response_model=NoticeRead, status_code=201)
async def post_notice(body: NoticeCreate, principal: CurrentPrincipal, session: DbSession) -> NoticeRead:
    return NoticeRead.model_validate(await service.post_notice(session, actor=principal, notice=body))


@router.delete("/api/operator/notices/{notice_id}", status_code=204)
async def delete_notice(notice_id: UUID, principal: CurrentPrincipal, session: DbSession) -> Response:
    await service.delete_notice(session, actor=principal, notice_id=notice_id)
    return Response(status_code=204)


@router.get("/api/terms", response_model=list[TermsRead], summary="Every published version of the terms")
async def list_terms(request: Request, session: DbSession, tenant: Tenant = None) -> list[TermsRead]:
    rows = await service.terms_versions(session, tenant=_tenant(request, None, tenant))
    return [TermsRead.model_validate(r) for r in rows]


@router.post("/api/operator/terms", response_model=TermsRead, status_code=201)
async def publish_terms(body: TermsCreate, principal: CurrentPrincipal, session: DbSession) -> TermsRead:
    return TermsRead.model_validate(await service.publish_terms(session, actor=principal, terms=body))


@router.get("/api/operator/terms/{version}/acceptances", response_model=list[AcceptanceRead])
async def list_acceptances(
    version: str, principal: CurrentPrincipal, session: DbSession
) -> list[AcceptanceRead]:
    rows = await service.acceptances(session, actor=principal, version=version)
    return [AcceptanceRead.model_validate(r) for r in rows]


@router.post("/api/terms/{version}/acceptance", response_model=AcceptanceRead)
async def accept_terms(version: str, principal: CurrentPrincipal, session: DbSession) -> AcceptanceRead:
    return AcceptanceRead.model_validate(
        await service.accept_terms(session, actor=principal, version=version)
    )


@router.get(
    "/api/terms/pending", response_model=TermsRead | None, summary="The version the caller must accept"
)
async def pending_terms(principal: CurrentPrincipal, session: DbSession) -> TermsRead | None:
    row = await service.pending_terms(session, actor=principal)
    return TermsRead.model_validate(row) if row else None


@router.get("/api/operator/settings", response_model=PortalSettingsRead)
async def get_settings(principal: OperatorPrincipal, session: DbSession) -> PortalSettingsRead:
    return PortalSettingsRead.model_validate(await service.settings_of(session, principal.tenant))


@router.patch("/api/operator/settings", response_model=PortalSettingsRead)
async def update_settings(
    body: PortalSettingsUpdate, principal: CurrentPrincipal, session: DbSession
) -> PortalSettingsRead:
    return PortalSettingsRead.model_validate(
        await service.update_settings(session, actor=principal, changes=body)
    )
