"""Staff routes of referrals (internal: the portal calls them with the staff member's token).

Home: `GET /referrals/options?subject_id=`, `POST /referrals`, `GET /referrals?subject_id=`, `POST
/referrals/{id}/end`. Peer: `GET /referrals/shared`, `GET /referrals/{id}/timeline`, `POST /referrals/{id}/posts`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession
from yui_common.problems import Problem

from federation.messages.peers import PeerClients
from federation.problems import answered
from federation.referrals import service
from federation.referrals.schemas import (
    ReferralCreate,
    ReferralOption,
    ReferralRead,
    SharedPost,
    SharedPostCreate,
    SharedTimeline,
)
from federation.settings import Settings

router = APIRouter(prefix="/referrals", tags=["referrals"])
NOT_YOURS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not a subject or referral of yours (the one 404)"}
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _clients(request: Request) -> PeerClients:
    clients: PeerClients = request.app.state.peer_clients
    return clients


@router.get(
    "/options",
    response_model=list[ReferralOption],
    responses=NOT_YOURS,
    summary="Where a subject may be referred",
)
async def referral_options(
    subject_id: UUID, request: Request, session: DbSession, principal: CurrentPrincipal
) -> list[ReferralOption]:
    return await service.options(
        session, _settings(request), _clients(request), principal=principal, subject_id=subject_id
    )


@router.post(
    "",
    response_model=ReferralRead,
    status_code=201,
    responses=NOT_YOURS,
    summary="Refer a subject to a peer facility",
)
async def create_referral(
    payload: ReferralCreate, request: Request, session: DbSession, principal: CurrentPrincipal
) -> ReferralRead:
    return await service.create(
        session, _settings(request), _clients(request), principal=principal, payload=payload
    )


@router.get("", response_model=list[ReferralRead], responses=NOT_YOURS, summary="A subject's referrals")
async def list_referrals(
    subject_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> list[ReferralRead]:
    return await service.of_subject(session, principal=principal, subject_id=subject_id)


@router.get(
    "/shared", response_model=list[ReferralRead], summary="Subjects other networks shared with my facility"
)
async def shared_with_me(session: DbSession, principal: CurrentPrincipal) -> list[ReferralRead]:
    return await service.shared_with_me(session, principal=principal)


@router.post("/{referral_id}/end", response_model=ReferralRead, responses=NOT_YOURS, summary="End a referral")
async def end_referral(
    referral_id: UUID, request: Request, session: DbSession, principal: CurrentPrincipal
) -> ReferralRead:
    return await service.end(session, _settings(request), principal=principal, referral_id=referral_id)


@router.get(
    "/{referral_id}/timeline",
    response_model=SharedTimeline,
    responses=NOT_YOURS,
    summary="Read a shared subject",
)
async def shared_timeline(
    referral_id: UUID, request: Request, session: DbSession, principal: CurrentPrincipal
) -> SharedTimeline | JSONResponse:
    try:
        return await service.fetch(
            session, _settings(request), _clients(request), principal=principal, referral_id=referral_id
        )
    except Problem as problem:
        # Answered, not raised: the refusal's audit entry (and a purge on home's 410) commits.
        return answered(request, problem)


@router.post(
    "/{referral_id}/posts",
    response_model=SharedPost,
    status_code=201,
    responses=NOT_YOURS,
    summary="Post on a shared subject",
)
async def shared_post(
    referral_id: UUID,
    payload: SharedPostCreate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
) -> SharedPost | JSONResponse:
    try:
        return await service.post(
            session,
            _settings(request),
            _clients(request),
            principal=principal,
            referral_id=referral_id,
            payload=payload,
        )
    except Problem as problem:
        return answered(request, problem)
