"""Withdrawing a subject's consent and following its cascade; the operator's list of unfinished cascades."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from consent.dependencies import SUBJECT_NOT_FOUND, AppSettings, OperatorPrincipal
from consent.withdrawals import service
from consent.withdrawals.schemas import WithdrawalCreate, WithdrawalRead

router = APIRouter(prefix="/subjects", tags=["subjects"])


@router.post(
    "/{subject_id}/withdrawals",
    status_code=status.HTTP_201_CREATED,
    response_model=WithdrawalRead,
    responses=SUBJECT_NOT_FOUND,
)
async def withdraw_consent(
    subject_id: UUID,
    body: WithdrawalCreate,
    settings: AppSettings,
    session: DbSession,
    principal: CurrentPrincipal,
) -> WithdrawalRead:
    mode = await service.withdrawal_mode(session, tenant=principal.tenant, default=settings.withdrawal_mode)
    return await service.withdraw_consent(
        session,
        principal=principal,
        subject_id=subject_id,
        participants=tuple(settings.cascade_participants),
        mode=mode,
        **body.model_dump(),
    )


@router.get("/{subject_id}/withdrawals", response_model=list[WithdrawalRead], responses=SUBJECT_NOT_FOUND)
async def list_withdrawals(
    subject_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> list[WithdrawalRead]:
    """The subject's page: each withdrawal's cascade per service, with start and completion times."""
    return await service.subject_withdrawals(session, principal=principal, subject_id=subject_id)


cascades = APIRouter(prefix="/cascades", tags=["cascades"])


@cascades.get("/incomplete", response_model=list[WithdrawalRead])
async def incomplete_cascades(session: DbSession, principal: OperatorPrincipal) -> list[WithdrawalRead]:
    """For the operator: withdrawal cascades some service has not yet reported done."""
    return await service.incomplete_cascades(session, principal=principal)
