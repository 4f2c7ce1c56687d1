"""Revoking routes wait for the services' acknowledgements after their commit: a failure of that wait does not
turn a committed revocation into an error."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import pytest
from identity.models import Suspension
from identity.revocations import repository
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.tests.test_accounts import make_site, token_of, user_row
from tests.support.stack import Stack


class TestWaitingForAcknowledgements:
    async def test_a_suspension_whose_wait_fails_answers_202_with_every_service_pending(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        site = await make_site(stack)
        operator = token_of(stack, site.operator)

        async def database_gone(session: AsyncSession, *, revocation_ids: Sequence[UUID]) -> None:
            # As the wait's query fails while PostgreSQL restarts, after the suspension committed.
            raise OperationalError("SELECT … FROM revocation_steps", {}, ConnectionResetError())

        monkeypatch.setattr(repository, "step_rows", database_gone)
        suspended = await stack["identity"].client.post(
            "/suspensions",
            json={"target_kind": "user", "target_id": str(site.nurse.id), "reason": "test"},
            headers=operator.headers,
        )

        assert suspended.status_code == 202, suspended.text
        propagation = suspended.json()["propagation"]
        participants = sorted(stack["identity"].app.state.settings.revocation_participants)
        assert propagation["complete"] is False
        assert propagation["pending"] == participants
        assert [s["service"] for s in propagation["services"]] == participants
        # The change the answer reports is committed.
        assert (await user_row(stack, site.nurse.id)).status == "suspended"
        async with stack["identity"].sessionmaker() as session:
            stored = await session.scalar(select(Suspension).where(Suspension.target_id == site.nurse.id))
        assert stored is not None and str(stored.id) == suspended.json()["id"]
