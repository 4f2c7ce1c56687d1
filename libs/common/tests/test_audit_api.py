"""yui_common.audit_api: what an operator's verification of the shared log tells about other networks."""

from __future__ import annotations

from uuid import uuid4

from sqlalchemy import text
from uuid6 import uuid7
from yui_common import audit
from yui_common.audit_api import verify_entries
from yui_common.auth import Principal

from libs.common.tests.library_support import Sessions


async def append(sessions: Sessions, tenant: str, count: int) -> None:
    async with sessions() as session, session.begin():
        for _ in range(count):
            await audit.record(session, tenant=tenant, actor_id=str(uuid7()), action="subject.read")


class TestVerificationScopedToTheOperatorsNetwork:
    async def test_an_operator_hears_whether_the_chain_holds_and_only_its_own_networks_entry_count(
        self, sessions: Sessions
    ) -> None:
        """One log holds every network's entries; another network's operator must not learn how many."""
        mine, theirs = f"mine-{uuid4().hex[:8]}", f"theirs-{uuid4().hex[:8]}"
        await append(sessions, mine, 2)
        await append(sessions, theirs, 5)
        operator = Principal(user_id=uuid7(), tenant=mine, facility_id=uuid7(), roles=frozenset({"operator"}))

        async with sessions() as session, session.begin():
            answer = await verify_entries(session, principal=operator, service="library")

        assert answer.verified is True and answer.breaks == []
        assert answer.entries_checked == 2
        assert (answer.seals_checked, answer.unsealed_entries, answer.heads_checked_through) == (
            None,
            None,
            None,
        )
        async with sessions() as session:
            detail = await session.scalar(
                text("SELECT detail FROM audit_log WHERE tenant = :t AND action = 'audit.verify'"),
                {"t": mine},
            )
        assert detail == {"intact": "True", "checked": 2, "breaks": 0}
