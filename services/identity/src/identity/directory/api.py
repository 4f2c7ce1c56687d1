"""The public facility directory and each facility's publication choices (P1)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from identity.auth import NetworkManagerPrincipal
from identity.directory import service as directory
from identity.directory.schemas import DirectoryPage, DirectoryPolicy, PublicationRead, PublicationUpdate

router = APIRouter(tags=["directory"])
Tenant = Annotated[str, Query(min_length=1, max_length=63, pattern=r"^[a-z0-9-]+$")]
Search = Annotated[str, Query(max_length=100)]


@router.get(
    "/directory",
    response_model=DirectoryPage,
    summary="Public: the network's facilities, each showing only what it agreed to publish",
)
async def public_directory(
    session: DbSession, tenant: Tenant, name: Search = "", kind: Search = "", address: Search = ""
) -> DirectoryPage:
    return await directory.public_directory(
        session, tenant=tenant, name=name.strip(), kind=kind.strip(), address=address.strip()
    )


@router.get("/directory/policy", response_model=DirectoryPolicy)
async def get_policy(principal: NetworkManagerPrincipal, session: DbSession) -> DirectoryPolicy:
    return await directory.policy(session, principal=principal)


@router.patch(
    "/directory/policy",
    response_model=DirectoryPolicy,
    summary="The operator: list only facilities that opted in",
)
async def change_policy(
    body: DirectoryPolicy, principal: CurrentPrincipal, session: DbSession
) -> DirectoryPolicy:
    return await directory.change_policy(session, principal=principal, changes=body)


@router.get("/facilities/{facility_id}/publication", response_model=PublicationRead)
async def get_publication(
    facility_id: UUID, principal: CurrentPrincipal, session: DbSession
) -> PublicationRead:
    return await directory.publication(session, principal=principal, facility_id=facility_id)


@router.patch(
    "/facilities/{facility_id}/publication",
    response_model=PublicationRead,
    summary="The facility's administrator or the operator chooses what is published; the operator withholds",
)
async def change_publication(
    facility_id: UUID, body: PublicationUpdate, principal: CurrentPrincipal, session: DbSession
) -> PublicationRead:
    return await directory.change_publication(
        session, principal=principal, facility_id=facility_id, changes=body
    )
