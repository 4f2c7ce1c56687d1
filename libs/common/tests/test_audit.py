"""yui_common.audit: entries commit with the caller's transaction, chain in one order, and tampering shows."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import audit
from yui_common.auth import Principal

from libs.common.tests.library_support import Sessions, scalar


async def entries_for(sessions: Sessions, actor_id: str) -> list[dict]:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT * FROM audit_log WHERE actor_id = :a ORDER BY seq"), {"a": actor_id}
        )
        return [dict(row._mapping) for row in rows]


async def record(session: AsyncSession, actor_id: str, action: str = "subject.read") -> str:
    return await audit.record(
        session, tenant="demo", actor_id=actor_id, action=action, subject_id=str(uuid7())
    )


@pytest.fixture
async def tampering(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """A transaction that may rewrite the log as someone with the database's keys could; always rolled back.

    ``session_replication_role = replica`` silences the append-only triggers for this transaction only.
    """
    async with sessions() as session:
        await session.begin()
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        try:
            yield session
        finally:
            await session.rollback()


class TestEntriesInTheCallersTransaction:
    async def test_an_entry_commits_with_the_business_change(self, sessions: Sessions) -> None:
        actor = str(uuid7())
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO ledger (scenario) VALUES (:s)"), {"s": actor})
            entry_id = await record(session, actor)

        [entry] = await entries_for(sessions, actor)
        assert str(entry["id"]) == entry_id
        assert (entry["tenant"], entry["action"]) == ("demo", "subject.read")
        assert await scalar(sessions, "SELECT count(*) FROM ledger WHERE scenario = :s", s=actor) == 1

    async def test_a_rolled_back_transaction_leaves_no_entry_and_none_leaks_into_the_next_one(
        self, sessions: Sessions
    ) -> None:
        actor = str(uuid7())

        class RequestFailed(Exception):
            pass

        async with sessions() as session:
            with pytest.raises(RequestFailed):
                async with session.begin():
                    await record(session, actor, action="subject.read")
                    raise RequestFailed
            # The same session's next transaction appends only its own entry.
            async with session.begin():
                await record(session, actor, action="subject.updated")

        assert [entry["action"] for entry in await entries_for(sessions, actor)] == ["subject.updated"]

    async def test_an_entry_is_not_visible_to_others_before_its_transaction_commits(
        self, sessions: Sessions
    ) -> None:
        actor = str(uuid7())
        async with sessions() as session, session.begin():
            await record(session, actor)
            await audit.write_staged(session)
            assert len(await entries_for(sessions, actor)) == 0
        assert len(await entries_for(sessions, actor)) == 1

    async def test_an_entry_by_a_principal_names_their_network_and_facility(self, sessions: Sessions) -> None:
        principal = Principal(user_id=uuid7(), tenant="tokai", facility_id=uuid7())
        subject = uuid7()
        async with sessions() as session, session.begin():
            await audit.record_by(
                session, principal, action="post.created", subject_id=subject, detail={"post_id": uuid7()}
            )

        [entry] = await entries_for(sessions, str(principal.user_id))
        assert (entry["tenant"], entry["facility_id"], entry["subject_id"]) == (
            "tokai",
            str(principal.facility_id),
            str(subject),
        )
        UUID(entry["detail"]["post_id"])  # stored as the plain string the hash was taken over


class TestChain:
    async def test_entries_from_many_transactions_form_one_chain_that_verifies(
        self, sessions: Sessions
    ) -> None:
        actor = str(uuid7())
        for n in range(3):
            async with sessions() as session, session.begin():
                for _ in range(n + 1):
                    await record(session, actor)

        entries = await entries_for(sessions, actor)
        assert len(entries) == 6
        for earlier, later in itertools.pairwise(entries):
            # Nothing else wrote in between, so each entry links to the one before it.
            assert later["prev_hash"] == earlier["hash"]
        async with sessions() as session:
            checked, breaks = await audit.verify_chain(session)
        assert breaks == []
        assert checked >= 6

    async def test_concurrent_transactions_append_to_a_single_unbroken_chain(
        self, sessions: Sessions
    ) -> None:
        actor = str(uuid7())

        async def append(count: int) -> None:
            async with sessions() as session, session.begin():
                for _ in range(count):
                    await record(session, actor)

        await asyncio.gather(*(append(3) for _ in range(4)))

        assert len(await entries_for(sessions, actor)) == 12
        async with sessions() as session:
            _, breaks = await audit.verify_chain(session)
        assert breaks == []


class TestTamperingIsDetected:
    async def test_the_log_refuses_update_and_delete(self, sessions: Sessions) -> None:
        actor = str(uuid7())
        async with sessions() as session, session.begin():
            await record(session, actor)
        for statement in (
            "UPDATE audit_log SET action = 'nothing' WHERE actor_id = :a",
            "DELETE FROM audit_log WHERE actor_id = :a",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with sessions() as session, session.begin():
                    await session.execute(text(statement), {"a": actor})
        assert len(await entries_for(sessions, actor)) == 1

    async def test_a_modified_entry_is_reported_at_its_sequence_number(
        self, sessions: Sessions, tampering: AsyncSession
    ) -> None:
        actor = str(uuid7())
        async with sessions() as session, session.begin():
            for _ in range(3):
                await record(session, actor)
        entries = await entries_for(sessions, actor)
        victim = entries[1]["seq"]

        await tampering.execute(
            text("UPDATE audit_log SET action = 'nothing.happened' WHERE seq = :s"), {"s": victim}
        )
        _, breaks = await audit.verify_chain(tampering)

        assert [(b.seq, "modified" in b.problem) for b in breaks] == [(victim, True)]

    async def test_a_deleted_entry_breaks_the_link_of_the_next_one(
        self, sessions: Sessions, tampering: AsyncSession
    ) -> None:
        actor = str(uuid7())
        async with sessions() as session, session.begin():
            for _ in range(3):
                await record(session, actor)
        entries = await entries_for(sessions, actor)

        await tampering.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": entries[1]["seq"]})
        _, breaks = await audit.verify_chain(tampering)

        assert [(b.seq, "link" in b.problem) for b in breaks] == [(entries[2]["seq"], True)]

    async def test_an_entry_rewritten_with_a_freshly_computed_hash_still_breaks_the_next_link(
        self, sessions: Sessions, tampering: AsyncSession
    ) -> None:
        actor = str(uuid7())
        async with sessions() as session, session.begin():
            for _ in range(2):
                await record(session, actor)
        first, second = await entries_for(sessions, actor)

        fields = {key: first[key] for key in audit_fields()}
        fields["id"] = str(fields["id"])
        fields["action"] = "nothing.happened"
        forged = audit.entry_hash(fields, first["prev_hash"])
        await tampering.execute(
            text("UPDATE audit_log SET action = 'nothing.happened', hash = :h WHERE seq = :s"),
            {"h": forged, "s": first["seq"]},
        )
        _, breaks = await audit.verify_chain(tampering)

        assert [b.seq for b in breaks] == [second["seq"]]


def audit_fields() -> tuple[str, ...]:
    """The columns an entry's hash covers (everything but its position and the hashes themselves)."""
    return (
        "id",
        "occurred_at",
        "tenant",
        "actor_id",
        "facility_id",
        "subject_id",
        "action",
        "target",
        "detail",
        "trace_id",
    )
