"""f7 (S2, T5): audit entries are written in the business transaction, the table is append-only, and the
verifier (library and `python -m consent audit-verify`) finds every kind of tampering, even a rewrite of the
whole log and its seals, against the signed seal heads kept in S3."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from yui_common import audit
from yui_common.audit_seal import AuditKey, AuditSealer, AuditVerification, SealHeads, audit_key, verify_log
from yui_common.auth import Principal
from yui_common.db import asyncpg_dsn, get_db_session
from yui_common.schema import create_infrastructure

from tests.support.stack import REPO, Stack, eventually

AUDIT_COLUMNS = (
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
    "prev_hash",
    "hash",
    "xact_id",
)


async def audit_entries_after(stack: Stack, seq: int) -> list[Any]:
    async with stack["consent"].sessionmaker() as session:
        return list(
            (
                await session.execute(text("SELECT * FROM audit_log WHERE seq > :s ORDER BY seq"), {"s": seq})
            ).all()
        )


async def last_seq(stack: Stack) -> int:
    async with stack["consent"].sessionmaker() as session:
        return int((await session.execute(text("SELECT coalesce(max(seq), 0) FROM audit_log"))).scalar_one())


async def register(stack: Stack, headers: dict[str, str]) -> str:
    created = await stack["consent"].client.post(
        "/subjects",
        json={"name": "監査 花子", "name_kana": "カンサ ハナコ", "municipality_code": "232360"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


class TestEntriesAreWrittenInTheBusinessTransaction:
    async def test_f7_committed_request_leaves_exactly_its_entry_with_who_where_what_and_trace(
        self, stack: Stack
    ) -> None:
        staff = stack.staff()
        subject_id = await register(stack, staff.headers)
        before = await last_seq(stack)

        read = await stack["consent"].client.get(f"/subjects/{subject_id}", headers=staff.headers)
        assert read.status_code == 200

        entries = await audit_entries_after(stack, before)
        assert len(entries) == 1
        entry = entries[0]
        assert entry.action == "subject.read"
        assert entry.tenant == staff.tenant
        assert entry.actor_id == str(staff.user_id)
        assert entry.facility_id == str(staff.facility_id)
        assert entry.subject_id == subject_id
        assert entry.trace_id is not None and re.fullmatch(r"[0-9a-f]{32}", entry.trace_id)
        assert entry.trace_id != "0" * 32

    async def test_f7_rolled_back_unit_of_work_leaves_no_entry_and_no_other_write(self, stack: Stack) -> None:
        """The request's own transaction (yui_common.db.get_db_session) around the real use case: when the
        request fails after the use case ran, its subject, outbox event and audit entry all disappear."""
        from consent.subjects import service

        staff = stack.staff()
        principal = Principal(
            user_id=staff.user_id,
            tenant=staff.tenant,
            facility_id=staff.facility_id,
            roles=frozenset({"staff"}),
        )
        request = SimpleNamespace(app=stack["consent"].app)
        before = await last_seq(stack)

        unit_of_work = get_db_session(request)  # type: ignore[arg-type]
        session = await unit_of_work.__anext__()
        subject = await service.register_subject(
            session,
            principal=principal,
            name="取消 太郎",
            name_kana="トリケシ タロウ",
            birth_date=None,
            municipality_code="232360",
        )
        assert audit.staged_entries(session) == 1  # the entry belongs to this transaction, due at its commit
        with pytest.raises(RuntimeError):
            await unit_of_work.athrow(RuntimeError("the request failed after the use case ran"))

        assert await audit_entries_after(stack, before) == []
        async with stack["consent"].sessionmaker() as check:
            leftovers = (
                await check.execute(
                    text(
                        "SELECT (SELECT count(*) FROM subjects WHERE id = :s), "
                        "(SELECT count(*) FROM outbox WHERE envelope->>'subject' = :t)"
                    ),
                    {"s": subject.id, "t": str(subject.id)},
                )
            ).one()
        assert tuple(leftovers) == (0, 0)

    async def test_committed_unit_of_work_keeps_its_entry(self, stack: Stack) -> None:
        """The same path, succeeding: the entry is committed with the subject (the rollback test can fail)."""
        from consent.subjects import service

        staff = stack.staff()
        principal = Principal(user_id=staff.user_id, tenant=staff.tenant, facility_id=staff.facility_id)
        before = await last_seq(stack)
        unit_of_work = get_db_session(SimpleNamespace(app=stack["consent"].app))  # type: ignore[arg-type]
        session = await unit_of_work.__anext__()
        subject = await service.register_subject(
            session,
            principal=principal,
            name="確定 太郎",
            name_kana="カクテイ タロウ",
            birth_date=None,
            municipality_code="232360",
        )
        with pytest.raises(StopAsyncIteration):
            await unit_of_work.__anext__()
        entries = await audit_entries_after(stack, before)
        assert [(e.action, e.subject_id) for e in entries] == [("subject.register", str(subject.id))]

    async def test_request_refused_by_a_domain_rule_leaves_no_entry(self, stack: Stack) -> None:
        staff = stack.staff()
        subject_id = await register(stack, staff.headers)
        before = await last_seq(stack)
        refused = await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=staff.headers
        )
        assert refused.status_code == 409
        assert await audit_entries_after(stack, before) == []


class TestTheTableIsAppendOnly:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_log SET action = 'tampered' WHERE seq = (SELECT max(seq) FROM audit_log)",
            "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
            "TRUNCATE audit_log",
        ],
        ids=["update", "delete", "truncate"],
    )
    async def test_f7_the_trigger_refuses_changes_even_to_the_owner(
        self, stack: Stack, statement: str
    ) -> None:
        await register(stack, stack.staff().headers)  # at least one entry, so UPDATE/DELETE hit a row
        count_before = await last_seq(stack)
        conn = await asyncpg.connect(asyncpg_dsn(stack["consent"].settings.dsn))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
            assert await conn.fetchval("SELECT max(seq) FROM audit_log") == count_before
            assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'tampered'") == 0
        finally:
            await conn.close()


@dataclass
class ChainDatabase:
    dsn: str
    sessionmaker: async_sessionmaker[AsyncSession]
    sealer: AuditSealer
    heads: SealHeads

    async def tamper(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        """As the superuser, triggers off for this connection only: what an attacker with DB access does."""
        conn = await asyncpg.connect(asyncpg_dsn(self.dsn))
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                for statement, args in statements:
                    await conn.execute(statement, *args)
        finally:
            await conn.close()

    async def row(self, seq: int) -> asyncpg.Record:
        conn = await asyncpg.connect(asyncpg_dsn(self.dsn))
        try:
            record = await conn.fetchrow(
                f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log WHERE seq = $1", seq
            )
            assert record is not None
            return record
        finally:
            await conn.close()

    async def seal_through(self, seq: int) -> None:
        """Seal until the entry at ``seq`` is sealed (other transactions on the server may hold xmin back)."""

        async def sealed() -> bool:
            await self.sealer.run_round()
            async with self.sessionmaker() as session:
                return bool(
                    await session.scalar(
                        text(
                            "SELECT count(*) FROM audit_log a JOIN audit_seals s ON a.xact_id < "
                            "CAST(CAST(s.xid_upper AS text) AS xid8) WHERE a.seq = :seq"
                        ),
                        {"seq": seq},
                    )
                )

        await eventually(sealed, what=f"entry {seq} sealed")

    async def verify(self) -> tuple[int, list[audit.ChainBreak]]:
        """The database alone: entries against seals (what the library's verify_chain checks)."""
        async with self.sessionmaker() as session:
            return await audit.verify_chain(session)

    async def verify_with_heads(self) -> AuditVerification:
        async with self.sessionmaker() as session:
            return await verify_log(session, heads=self.heads, public_key=self.sealer.key.public)

    async def verify_with_cli(self) -> tuple[int, str]:
        env = {**os.environ, "YUI_CONSENT_DATABASE_URL": self.dsn}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "consent",
            "audit-verify",
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode is not None
        return process.returncode, output.decode()


async def append(sessionmaker: async_sessionmaker[AsyncSession], *numbers: int) -> None:
    """Entries written by one transaction, so one seal always takes them together."""
    async with sessionmaker() as session, session.begin():
        for n in numbers:
            await audit.record(
                session,
                tenant="demo",
                actor_id=str(uuid4()),
                facility_id=str(uuid4()),
                subject_id=str(uuid4()),
                action=f"test.action{n}",
                detail={"n": n},
            )


@pytest.fixture
async def chain(stack: Stack) -> AsyncIterator[ChainDatabase]:
    """A database of its own holding five entries in two seals (1–3, 4–5) whose signed heads are in S3, so
    tampering never touches a service's log. The consent worker's settings and key, this database's URL."""
    base = stack["consent"].settings
    name = f"{base.database_prefix}audit_{uuid4().hex[:12]}"
    server = asyncpg_dsn(base.postgres_url.rstrip("/") + "/postgres")
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = f"{base.postgres_url.rstrip('/')}/{name}"
    settings = base.model_copy(update={"database_url": dsn})
    engine = create_async_engine(dsn)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(create_infrastructure)
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        key = audit_key(settings)
        assert key is not None, "the test stack gives every service an audit key"
        heads = SealHeads(settings)
        database = ChainDatabase(
            dsn, sessionmaker, AuditSealer(engine=engine, key=key, heads=heads, log=heads.log), heads
        )
        await append(sessionmaker, 1, 2, 3)
        await database.seal_through(3)
        await append(sessionmaker, 4, 5)
        await database.seal_through(5)
        async with sessionmaker() as session:
            assert await session.scalar(text("SELECT count(*) FROM audit_seals")) == 2
        assert await database.verify() == (5, [])
        yield database
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def seal_problems(breaks: list[audit.ChainBreak]) -> list[str]:
    return [b.problem for b in breaks if b.problem.startswith("seal ")]


class TestTheVerifierDetectsTampering:
    async def test_an_untouched_log_verifies_in_the_library_and_the_command(
        self, chain: ChainDatabase
    ) -> None:
        assert await chain.verify() == (5, [])
        verification = await chain.verify_with_heads()
        assert verification.breaks == [] and verification.heads_checked_through == 2
        code, output = await chain.verify_with_cli()
        assert code == 0, output
        assert "intact (5 entries, 2 seals, signed heads match through seal 2)" in output
        assert "every entry is sealed" in output

    async def test_the_command_says_how_old_the_unsealed_entries_are(self, chain: ChainDatabase) -> None:
        await append(chain.sessionmaker, 6)
        code, output = await chain.verify_with_cli()
        assert code == 0, output
        assert re.search(r"1 entries not sealed yet; the newest is [0-9.]+ s old", output), output

    async def test_f7_an_updated_entry_is_detected(self, chain: ChainDatabase) -> None:
        await chain.tamper(("UPDATE audit_log SET actor_id = 'someone-else' WHERE seq = 3", ()))
        checked, breaks = await chain.verify()
        assert checked == 5
        assert [(b.seq, "modified" in b.problem) for b in breaks] == [(3, True)]
        code, output = await chain.verify_with_cli()
        assert code == 1, output
        assert "audit entry 3" in output and "BROKEN" in output

    async def test_f7_a_deleted_middle_entry_is_detected(self, chain: ChainDatabase) -> None:
        await chain.tamper(("DELETE FROM audit_log WHERE seq = 2", ()))
        checked, breaks = await chain.verify()
        assert checked == 4
        assert seal_problems(breaks) == [
            "seal 1 (entries 1–3): 2 entries where 3 were sealed (deleted or added)"
        ]
        code, output = await chain.verify_with_cli()
        assert code == 1, output
        assert "seal 1" in output and "deleted" in output

    async def test_f7_two_swapped_entries_are_detected(self, chain: ChainDatabase) -> None:
        first, third = await chain.row(1), await chain.row(3)
        assignments = ", ".join(f"{column} = ${i + 2}" for i, column in enumerate(AUDIT_COLUMNS))
        overwrite = f"UPDATE audit_log SET {assignments} WHERE seq = $1"
        # Each entry's own hash still matches its content: only the order betrays the swap.
        await chain.tamper(
            ("UPDATE audit_log SET id = $2 WHERE seq = $1", (1, uuid4())),  # ids are unique: free one first
            (overwrite, (3, *first.values())),
            (overwrite, (1, *third.values())),
        )
        assert (await chain.row(1))["hash"] == third["hash"]
        checked, breaks = await chain.verify()
        assert checked == 5
        assert [b.seq for b in breaks] == [1]
        assert "reordered" in breaks[0].problem
        code, output = await chain.verify_with_cli()
        assert code == 1, output

    async def test_f7_a_dropped_trigger_and_a_recomputed_log_and_seals_are_caught_by_the_signed_heads(
        self, chain: ChainDatabase
    ) -> None:
        """Someone with the database's keys drops the triggers, rewrites an entry with a fresh hash, deletes
        the seals and seals the log again with a key of their own: the database agrees with itself, the
        heads signed with the service's key and kept in S3 do not."""
        victim = await chain.row(2)
        fields = {
            name: victim[name] for name in AUDIT_COLUMNS if name not in ("prev_hash", "hash", "xact_id")
        }
        fields["id"] = str(fields["id"])
        fields["detail"] = json.loads(fields["detail"])  # asyncpg hands jsonb over as its text
        fields["action"] = "nothing.happened"
        conn = await asyncpg.connect(asyncpg_dsn(chain.dsn))
        try:
            for table in ("audit_log", "audit_seals"):
                await conn.execute(f"DROP TRIGGER {table}_no_update ON {table}")
                await conn.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
            await conn.execute(
                "UPDATE audit_log SET action = $2, hash = $3 WHERE seq = $1",
                2,
                "nothing.happened",
                audit.entry_hash(fields),
            )
            await conn.execute("DELETE FROM audit_seals")
        finally:
            await conn.close()
        forger = AuditSealer(
            engine=chain.sealer.engine,
            key=AuditKey(Ed25519PrivateKey.generate()),
            heads=None,
            log=chain.heads.log,
        )
        while await forger.seal_once() is not None:
            pass

        assert await chain.verify() == (5, [])  # the database alone cannot tell
        verification = await chain.verify_with_heads()
        problems = [b.problem for b in verification.breaks]
        assert any("differs from the exported signed head" in p for p in problems), problems
        assert any("signature is not the audit key's" in p for p in problems), problems
        code, output = await chain.verify_with_cli()
        assert code == 1, output
        assert "exported signed head" in output and "BROKEN" in output

    async def test_f7_removing_the_newest_seal_and_its_entries_is_caught_by_the_signed_heads(
        self, chain: ChainDatabase
    ) -> None:
        await chain.tamper(
            ("DELETE FROM audit_log WHERE seq >= 4", ()),
            ("DELETE FROM audit_seals WHERE number = 2", ()),
        )
        assert await chain.verify() == (3, [])  # the database alone cannot tell
        code, output = await chain.verify_with_cli()
        assert code == 1, output
        assert "signed heads up to seal 2 but the database's seals end at 1" in output
