"""yui_common.audit: entries commit with the caller's transaction without a lock, and tampering shows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from uuid6 import uuid7
from yui_common import audit
from yui_common.audit_seal import AuditKey, AuditSealer, SealHeads, ensure_audit_key
from yui_common.auth import Principal

from libs.common.tests.library_support import WAIT_S, LibrarySettings, Sessions, scalar
from tests.support.stack import eventually


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


class TestEntriesInASavepoint:
    """perf3's staging rules hold for audit entries too (yui_common.staging, shared with the outbox)."""

    async def test_perf3_an_entry_of_a_savepoint_that_rolls_back_is_dropped_and_the_enclosing_ones_kept(
        self, sessions: Sessions
    ) -> None:
        class Refused(Exception):
            pass

        actor = str(uuid7())
        async with sessions() as session, session.begin():
            before = await record(session, actor, "before")
            with contextlib.suppress(Refused):
                async with session.begin_nested():
                    await record(session, actor, "inside")
                    raise Refused
            async with session.begin_nested():
                released = await record(session, actor, "released")
        kept = [(str(e["id"]), e["action"]) for e in await entries_for(sessions, actor)]
        assert sorted(kept) == sorted([(before, "before"), (released, "released")])


class TestEntriesWithoutALock:
    async def test_each_entry_carries_its_content_hash_and_its_transactions_id(
        self, sessions: Sessions
    ) -> None:
        actor = str(uuid7())
        for n in range(3):
            async with sessions() as session, session.begin():
                for _ in range(n + 1):
                    await record(session, actor)

        entries = await entries_for(sessions, actor)
        assert len(entries) == 6
        for entry in entries:
            # No link to a predecessor any more: the worker seals entries in batches (yui_common.audit_seal).
            assert entry["prev_hash"] is None
            assert entry["hash"] == audit.entry_hash(
                {key: entry[key] for key in audit_fields()} | {"id": str(entry["id"])}
            )
        # One transaction id per transaction: a seal takes a transaction's entries together.
        assert [len({e["xact_id"] for e in entries[a:b]}) for a, b in ((0, 1), (1, 3), (3, 6))] == [1, 1, 1]
        assert len({e["xact_id"] for e in entries}) == 3
        async with sessions() as session:
            checked, breaks = await audit.verify_chain(session)
        assert breaks == []
        assert checked >= 6

    async def test_concurrent_transactions_append_without_waiting_for_each_other(
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

    async def test_a_deleted_entry_of_a_sealed_batch_is_reported_at_its_seal(
        self, sessions: Sessions, sealer: AuditSealer, tampering: AsyncSession
    ) -> None:
        actor = str(uuid7())
        async with sessions() as session, session.begin():
            for _ in range(3):
                await record(session, actor)
        entries = await entries_for(sessions, actor)
        await sealed(sealer, sessions, entries[-1]["seq"])

        await tampering.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": entries[1]["seq"]})
        _, breaks = await audit.verify_chain(tampering)

        assert len(breaks) == 1 and "deleted" in breaks[0].problem and breaks[0].problem.startswith("seal ")

    async def test_a_sealed_entry_rewritten_with_a_freshly_computed_hash_breaks_its_seal(
        self, sessions: Sessions, sealer: AuditSealer, tampering: AsyncSession
    ) -> None:
        actor = str(uuid7())
        async with sessions() as session, session.begin():
            for _ in range(2):
                await record(session, actor)
        first, second = await entries_for(sessions, actor)
        await sealed(sealer, sessions, second["seq"])

        fields = {key: first[key] for key in audit_fields()}
        fields["id"] = str(fields["id"])
        fields["action"] = "nothing.happened"
        forged = audit.entry_hash(fields)
        await tampering.execute(
            text("UPDATE audit_log SET action = 'nothing.happened', hash = :h WHERE seq = :s"),
            {"h": forged, "s": first["seq"]},
        )
        _, breaks = await audit.verify_chain(tampering)

        assert len(breaks) == 1 and "reordered or replaced" in breaks[0].problem


@pytest.fixture
async def sealer(
    library_engine: AsyncEngine, library_settings: LibrarySettings, tmp_path_factory: pytest.TempPathFactory
) -> AuditSealer:
    """The library database's sealer, with the one key every test of yui_common shares for it."""
    key = AuditKey.from_file(ensure_audit_key(tmp_path_factory.getbasetemp() / "audit-key" / "library.pem"))
    heads = SealHeads(library_settings)
    return AuditSealer(engine=library_engine, key=key, heads=heads, log=heads.log)


async def sealed(sealer: AuditSealer, sessions: Sessions, seq: int) -> None:
    """Seal until the entry at ``seq`` is sealed (other transactions on the server may hold xmin back)."""

    async def done() -> bool:
        await sealer.run_round()
        async with sessions() as session:
            reach = await session.scalar(text("SELECT coalesce(max(xid_upper), 0) FROM audit_seals"))
            xact = await session.scalar(text("SELECT xact_id FROM audit_log WHERE seq = :s"), {"s": seq})
        return int(xact) < int(reach)

    await eventually(done, timeout=WAIT_S, what=f"entry {seq} sealed")


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
