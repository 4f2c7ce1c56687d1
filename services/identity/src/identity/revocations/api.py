"""The operator's list of unfinished revocations, and the wait every revoking route answers after."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.db import DbSession

from identity.auth import OperatorPrincipal
from identity.revocations import service
from identity.revocations.schemas import Propagation, RevocationRead

log = logging.getLogger(__name__)
router = APIRouter(prefix="/revocations", tags=["revocations"])


@router.get("/incomplete", response_model=list[RevocationRead])
async def incomplete_revocations(principal: OperatorPrincipal, session: DbSession) -> list[RevocationRead]:
    """Revocations some service has not yet acknowledged (its worker is down or behind)."""
    return await service.incomplete_revocations(session, principal=principal)


async def commit_and_await_revocations(
    request: Request, session: AsyncSession, response: Response
) -> Propagation | None:
    """Commit the request's revocations, then wait until every participating service holds them.

    All held: the route answers as usual, with the propagation. Still pending after ``revocation_wait_s``:
    202 Accepted with the services that have not acknowledged; /revocations/incomplete lists them too.
    """
    awaited = service.awaited_revocations(session)
    # The one place a router commits before returning (DbSession commits when the handler returns): the
    # services can only store a revocation identity has committed, and this answer must wait until they
    # have, so that the caller's next request is refused everywhere. DbSession's own commit then has
    # nothing left to do.
    await session.commit()
    committed_at = datetime.now(UTC)
    if not awaited:
        return None
    settings = request.app.state.settings
    try:
        # The looks stop at revocation_wait_s themselves; this bounds the whole wait, a connection checkout
        # or a query stuck on a sick database included (the pool's own timeout alone is 30 s).
        async with asyncio.timeout(settings.revocation_wait_s):
            propagation = await service.await_propagation(
                session,
                revocation_ids=awaited,
                committed_at=committed_at,
                timeout_s=settings.revocation_wait_s,
                poll_interval_s=settings.revocation_poll_interval_s,
            )
    except Exception:
        # The revocation is committed whatever happens to the wait (the database restarting under it, the
        # whole wait timing out): a 500 would tell the caller it failed. Every participant is reported
        # pending, as after the looks time out.
        log.warning("waiting for the revocations' acknowledgements failed", exc_info=True)
        await _forget_failed_wait(session)
        propagation = service.unconfirmed_propagation(
            revocation_ids=awaited, committed_at=committed_at, services=settings.revocation_participants
        )
    if not propagation.complete:
        response.status_code = status.HTTP_202_ACCEPTED
    return propagation


async def _forget_failed_wait(session: AsyncSession) -> None:
    """End the failed look's transaction, so DbSession's commit after the route has nothing to do; on a
    connection already gone the rollback may fail too, which changes nothing committed."""
    try:
        await session.rollback()
    except Exception:
        log.debug("rollback after the failed wait failed", exc_info=True)
