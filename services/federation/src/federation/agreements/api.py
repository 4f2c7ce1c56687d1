"""The operators' agreement routes: list, read, propose, accept, suspend, resume, end, send an audit head.

A network's operator sees and acts on its own network's agreements only; another network's agreement is 404
(need to know), whatever its id. Reached internally (the gateway routes only the peers' paths from outside)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession
from yui_common.problems import Problem

from federation.agreements import peer_networks, service
from federation.agreements.schemas import AgreementAccept, AgreementCreate, AgreementRead
from federation.problems import answered
from federation.settings import Settings

router = APIRouter(prefix="/agreements", tags=["agreements"])
OPERATOR_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"description": "Only the network's operator (the refusal is audited)"},
}
STEP_RESPONSES: dict[int | str, dict[str, Any]] = {
    **OPERATOR_ONLY,
    409: {"description": "The agreement's state does not allow this step"},
    422: {"description": "A CA certificate that is not a CA's"},
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _or_problem(request: Request, outcome: Any) -> Any:
    return answered(request, outcome) if isinstance(outcome, Problem) else outcome


@router.get(
    "", response_model=list[AgreementRead], responses=OPERATOR_ONLY, summary="This network's agreements"
)
async def list_agreements(
    request: Request, session: DbSession, principal: CurrentPrincipal
) -> list[AgreementRead] | JSONResponse:
    return _or_problem(
        request, await service.list_agreements(session, _settings(request), principal=principal)
    )  # type: ignore[no-any-return]


@router.post(
    "",
    response_model=AgreementRead,
    status_code=201,
    responses=STEP_RESPONSES,
    summary="Propose an agreement to a peer network",
)
async def propose_agreement(
    request: Request, session: DbSession, principal: CurrentPrincipal, proposal: AgreementCreate
) -> AgreementRead | JSONResponse:
    outcome = await service.propose(session, _settings(request), principal=principal, proposal=proposal)
    return _or_problem(request, outcome)  # type: ignore[no-any-return]


@router.get("/{agreement_id}", response_model=AgreementRead, responses=OPERATOR_ONLY, summary="One agreement")
async def get_agreement(
    agreement_id: UUID, request: Request, session: DbSession, principal: CurrentPrincipal
) -> AgreementRead | JSONResponse:
    outcome = await service.get_agreement(
        session, _settings(request), principal=principal, agreement_id=agreement_id
    )
    return _or_problem(request, outcome)  # type: ignore[no-any-return]


@router.post(
    "/{agreement_id}/acceptance",
    response_model=AgreementRead,
    responses=STEP_RESPONSES,
    summary="Accept a proposed agreement",
)
async def accept_agreement(
    agreement_id: UUID,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    accept: Annotated[AgreementAccept | None, Body()] = None,
) -> AgreementRead | JSONResponse:
    outcome = await service.change_state(
        session,
        _settings(request),
        principal=principal,
        agreement_id=agreement_id,
        step="accept",
        accept=accept,
    )
    return _or_problem(request, outcome)  # type: ignore[no-any-return]


def _step_route(step: str, path: str, summary: str) -> None:
    @router.post(
        f"/{{agreement_id}}/{path}",
        response_model=AgreementRead,
        responses=STEP_RESPONSES,
        summary=summary,
        name=f"{step}_agreement",
    )
    async def change(
        agreement_id: UUID, request: Request, session: DbSession, principal: CurrentPrincipal
    ) -> AgreementRead | JSONResponse:
        outcome = await service.change_state(
            session, _settings(request), principal=principal, agreement_id=agreement_id, step=step
        )
        return _or_problem(request, outcome)  # type: ignore[no-any-return]


_step_route("suspend", "suspension", "Suspend an agreement (nothing crosses until it is resumed)")
_step_route("resume", "resumption", "Resume a suspended agreement")
_step_route("end", "ending", "End an agreement for good")


@router.post(
    "/{agreement_id}/audit-heads",
    response_model=AgreementRead,
    responses=STEP_RESPONSES,
    summary="Send this service's audit seal head to the peer",
)
async def send_audit_head(
    agreement_id: UUID, request: Request, session: DbSession, principal: CurrentPrincipal
) -> AgreementRead | JSONResponse:
    outcome = await service.send_audit_head(
        session, _settings(request), principal=principal, agreement_id=agreement_id
    )
    return _or_problem(request, outcome)  # type: ignore[no-any-return]


router.include_router(peer_networks.router)
