"""yui_common.audit_seal: committed entries are sealed in batches by transaction id, signed, exported once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from uuid6 import uuid7
from yui_common import audit
from yui_common.audit_seal import (
    AuditKey,
    AuditSealer,
    Seal,
    SealHeads,
    batch_hash,
    ensure_audit_key,
    refresh_audit_gauges,
    seal_head,
    signed_message,
    unsealed_backlog,
    verify_log,
)
from yui_common.db import asyncpg_dsn

from libs.common.tests.library_support import WAIT_S, LibrarySettings, Sessions
from tests.support.stack import eventually


@pytest.fixture(scope="module")
def audit_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The same key test_audit's sealer uses: both seal the one library database.
    return ensure_audit_key(tmp_path_factory.getbasetemp() / "audit-key" / "library.pem")


@pytest.fixture
async def heads(library_settings: LibrarySettings) -> SealHeads:
    store = SealHeads(library_settings)
    await store.ensure_bucket()
    return store


@pytest.fixture
async def sealer(library_engine: AsyncEngine, audit_key_file: Path, heads: SealHeads) -> AuditSealer:
    return AuditSealer(
        engine=library_engine, key=AuditKey.from_file(audit_key_file), heads=heads, log=heads.log
    )


async def record(session: AsyncSession, actor_id: str) -> str:
    return await audit.record(session, tenant="demo", actor_id=actor_id, action="subject.read")


async def committed_entry(sessions: Sessions, actor_id: str) -> str:
    async with sessions() as session, session.begin():
        return await record(session, actor_id)


async def sealing_seal_of(sessions: Sessions, sealer: AuditSealer, entry_id: str) -> int:
    """Seal until ``entry_id`` is sealed (other transactions on the server may hold xmin back for a while);
    returns the number of the seal that took it."""

    async def sealed() -> int | None:
        await sealer.run_round()
        return await seal_number_of(sessions, entry_id)

    return int(await eventually(sealed, timeout=WAIT_S, what=f"entry {entry_id} sealed"))


async def seal_number_of(sessions: Sessions, entry_id: str) -> int | None:
    async with sessions() as session:
        found = await session.scalar(
            text(
                "SELECT s.number FROM audit_log a JOIN audit_seals s "
                "ON a.xact_id >= CAST(CAST(s.xid_lower AS text) AS xid8) "
                "AND a.xact_id < CAST(CAST(s.xid_upper AS text) AS xid8) WHERE a.id = :id"
            ),
            {"id": entry_id},
        )
    return None if found is None else int(found)


async def seal(sessions: Sessions, number: int) -> Seal:
    async with sessions() as session:
        row = (
            await session.execute(text("SELECT * FROM audit_seals WHERE number = :n"), {"n": number})
        ).one()
    return Seal(**{name: getattr(row, name) for name in Seal.__dataclass_fields__})


class TestSealing:
    async def test_committed_entries_are_sealed_and_the_seal_chains_to_the_previous_one(
        self, sessions: Sessions, sealer: AuditSealer
    ) -> None:
        actor = str(uuid7())
        first = await committed_entry(sessions, actor)
        earlier = await sealing_seal_of(sessions, sealer, first)
        second = await committed_entry(sessions, actor)
        later = await sealing_seal_of(sessions, sealer, second)

        assert later > earlier
        before, after = await seal(sessions, later - 1), await seal(sessions, later)
        assert after.previous_head == before.head
        assert after.xid_lower == before.xid_upper
        async with sessions() as session:
            hashes = (
                await session.scalars(
                    text(
                        "SELECT hash FROM audit_log WHERE xact_id >= CAST(CAST(:lo AS text) AS xid8) "
                        "AND xact_id < CAST(CAST(:hi AS text) AS xid8) ORDER BY seq"
                    ),
                    {"lo": str(after.xid_lower), "hi": str(after.xid_upper)},
                )
            ).all()
        assert after.row_count == len(hashes) and after.batch_hash == batch_hash(hashes)
        fields = {name: getattr(after, name) for name in ("number", "xid_lower", "xid_upper", "first_seq")}
        assert after.head == seal_head(
            **fields,
            last_seq=after.last_seq,
            row_count=after.row_count,
            batch_hash=after.batch_hash,
            previous_head=after.previous_head,
        )
        assert sealer.key.public.verify(signed_message(sealer.log, after.number, after.head), after.signature)

    async def test_each_seal_head_is_exported_once_signed_and_matches_the_database(
        self, sessions: Sessions, sealer: AuditSealer, heads: SealHeads
    ) -> None:
        number = await sealing_seal_of(sessions, sealer, await committed_entry(sessions, str(uuid7())))
        document = await heads.get(number)
        assert document is not None
        stored = await seal(sessions, number)
        assert (document["head"], document["previous_head"], document["log"]) == (
            stored.head,
            stored.previous_head,
            heads.log,
        )
        assert sealer.key.public.verify(
            signed_message(heads.log, number, document["head"]), document["signature"]
        )
        # Exporting again writes nothing new and refuses nothing: the same head is already there.
        await heads.put(stored.document(heads.log))
        async with sessions() as session:
            verification = await verify_log(session, heads=heads, public_key=sealer.key.public)
        assert verification.breaks == []
        assert verification.heads_checked_through is not None and verification.heads_checked_through >= number

    async def test_two_replicas_sealing_at_once_never_seal_the_same_entries_twice(
        self, sessions: Sessions, sealer: AuditSealer, library_engine: AsyncEngine
    ) -> None:
        other = AuditSealer(engine=library_engine, key=sealer.key, heads=sealer.heads, log=sealer.log)
        actor = str(uuid7())
        for _ in range(5):
            await committed_entry(sessions, actor)
            await asyncio.gather(sealer.seal_once(), other.seal_once(), sealer.seal_once())
        last = await committed_entry(sessions, actor)
        await sealing_seal_of(sessions, sealer, last)
        async with sessions() as session:
            verification = await verify_log(session)
            overlapping = await session.scalar(
                text(
                    "SELECT count(*) FROM audit_seals a JOIN audit_seals b ON a.number < b.number "
                    "AND a.xid_upper > b.xid_lower"
                )
            )
        assert verification.breaks == []
        assert overlapping == 0

    async def test_the_backlog_counts_committed_entries_not_sealed_yet(
        self, sessions: Sessions, sealer: AuditSealer
    ) -> None:
        await sealing_seal_of(sessions, sealer, await committed_entry(sessions, str(uuid7())))
        async with sessions() as session:
            before, _, _ = await unsealed_backlog(session)
        await committed_entry(sessions, str(uuid7()))
        async with sessions() as session:
            after, oldest, newest = await unsealed_backlog(session)
        # Entries of other tests may have committed meanwhile, never fewer.
        assert after >= before + 1 and oldest >= newest >= 0
        await refresh_audit_gauges(sessions)
        assert (REGISTRY.get_sample_value("yui_audit_unsealed_rows") or 0) >= 1


class TestPerf1NothingIsSealedTooEarlyOrSkipped:
    async def test_perf1_an_entry_of_a_rolled_back_transaction_is_never_sealed(
        self, sessions: Sessions, sealer: AuditSealer
    ) -> None:
        actor = str(uuid7())
        async with sessions() as session:
            await session.begin()
            rolled_back = await record(session, actor)
            await audit.write_staged(session)  # the row exists inside the transaction
            await session.rollback()
        committed = await committed_entry(sessions, actor)
        number = await sealing_seal_of(sessions, sealer, committed)

        assert await seal_number_of(sessions, rolled_back) is None
        async with sessions() as session:
            sealed_ids = (
                await session.scalars(
                    text("SELECT id::text FROM audit_log WHERE actor_id = :a"), {"a": actor}
                )
            ).all()
            verification = await verify_log(session)
        assert sealed_ids == [committed]
        assert verification.breaks == []  # the seal's row count and hash hold only what committed
        assert (await seal(sessions, number)).row_count >= 1

    async def test_perf1_a_long_transaction_in_another_database_does_not_hold_this_logs_seals_back(
        self, sessions: Sessions, sealer: AuditSealer, library_settings: LibrarySettings
    ) -> None:
        """Another database of the server (another service's) cannot write this log: its long transaction, which
        holds the server's xmin, does not stop this database's entries being sealed."""
        elsewhere = await asyncpg.connect(
            asyncpg_dsn(library_settings.postgres_url.rstrip("/") + "/postgres")
        )
        try:
            await elsewhere.execute("BEGIN")
            other_xid = int(await elsewhere.fetchval("SELECT pg_current_xact_id()::text"))
            entry = await committed_entry(sessions, str(uuid7()))
            number = await sealing_seal_of(sessions, sealer, entry)  # while the other transaction still runs
            async with sessions() as session:
                reach = int(await session.scalar(text("SELECT max(xid_upper) FROM audit_seals")))
            assert reach > other_xid
            assert (await seal(sessions, number)).row_count >= 1
        finally:
            await elsewhere.close()

    async def test_perf1_an_entry_committed_late_by_a_long_transaction_is_sealed_in_a_later_batch(
        self, sessions: Sessions, sealer: AuditSealer
    ) -> None:
        actor = str(uuid7())
        async with sessions() as early, sessions() as long_running:
            # early takes its transaction id first; the long transaction writes its entry before early does.
            await early.begin()
            await early.execute(text("SELECT pg_current_xact_id()"))
            await long_running.begin()
            late_entry = await record(long_running, actor)
            await audit.write_staged(long_running)
            long_xid = int(await long_running.scalar(text("SELECT pg_current_xact_id()::text")))
            early_entry = await record(early, actor)
            await early.commit()

            early_seal = await sealing_seal_of(sessions, sealer, early_entry)
            # While the long transaction runs, no seal reaches its id: its entry cannot be passed over.
            async with sessions() as session:
                reach = await session.scalar(text("SELECT max(xid_upper) FROM audit_seals"))
            assert reach <= long_xid
            assert await seal_number_of(sessions, late_entry) is None
            await long_running.commit()

        late_seal = await sealing_seal_of(sessions, sealer, late_entry)
        assert late_seal > early_seal
        async with sessions() as session:
            positions = dict(
                (
                    await session.execute(
                        text("SELECT id::text, seq FROM audit_log WHERE actor_id = :a"), {"a": actor}
                    )
                ).all()
            )
            verification = await verify_log(session)
        assert positions[late_entry] < positions[early_entry]  # written first, sealed later
        assert verification.breaks == []
