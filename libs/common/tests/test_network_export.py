"""yui_common.network_export: which tables are a network's data, and that deleting one network's rows leaves the
other networks and every audit seal whole (the erased entries' hashes stand in for them)."""

from __future__ import annotations

from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from yui_common import audit
from yui_common.audit_seal import AuditKey, AuditSealer, SealHeads, ensure_audit_key, verify_log
from yui_common.network_export import Child, TenantScope, erase_tenant

from libs.common.tests.library_support import WAIT_S, LibrarySettings, Sessions
from tests.support.stack import eventually


def metadata_with(*tables: tuple[str, bool]) -> sa.MetaData:
    metadata = sa.MetaData()
    for name, with_tenant in tables:
        columns = [sa.Column("id", sa.Integer, primary_key=True)]
        if with_tenant:
            columns.append(sa.Column("tenant", sa.Text))
        else:
            columns.append(sa.Column("owner_id", sa.Integer))
        sa.Table(name, metadata, *columns)
    return metadata


class TestScope:
    def test_a_table_naming_no_network_must_be_declared(self) -> None:
        metadata = metadata_with(("posts", True), ("keys", False))
        with pytest.raises(RuntimeError, match="keys"):
            TenantScope(service="library", metadata=metadata)
        scope = TenantScope(service="library", metadata=metadata, shared=frozenset({"keys"}))
        assert [t.name for t in scope.tenant_tables] == ["posts"]

    def test_a_child_belongs_to_a_network_through_its_parent(self) -> None:
        metadata = metadata_with(("posts", True), ("versions", False))
        scope = TenantScope(
            service="library", metadata=metadata, children={"versions": Child("owner_id", "posts")}
        )
        condition = str(scope.rows_of(metadata.tables["versions"], "a").compile())
        assert "versions.owner_id IN (SELECT posts.id" in condition and "posts.tenant" in condition
        with pytest.raises(RuntimeError, match="versions"):
            TenantScope(
                service="library",
                metadata=metadata_with(("posts", True), ("versions", False), ("other", False)),
                children={"versions": Child("owner_id", "other")},
                shared=frozenset({"other"}),
            )


@pytest.fixture
async def sealer(
    library_engine: AsyncEngine, library_settings: LibrarySettings, tmp_path_factory: pytest.TempPathFactory
) -> AuditSealer:
    # The key test_audit_seal's sealer uses: all of them seal the one library database.
    key = ensure_audit_key(tmp_path_factory.getbasetemp() / "audit-key" / "library.pem")
    heads = SealHeads(library_settings)
    await heads.ensure_bucket()
    return AuditSealer(engine=library_engine, key=AuditKey.from_file(key), heads=heads, log=heads.log)


class TestErasure:
    async def test_one_networks_audit_entries_go_with_their_hashes_kept_and_every_seal_still_verifies(
        self, sessions: Sessions, sealer: AuditSealer
    ) -> None:
        ended, other = f"end-{uuid4().hex[:6]}", f"keep-{uuid4().hex[:6]}"
        async with sessions() as session, session.begin():
            for tenant in (ended, other, ended):
                await audit.record(session, tenant=tenant, actor_id=str(uuid4()), action="subject.read")
        ids = await _ids(sessions, ended)

        async def sealed() -> bool:
            await sealer.run_round()
            async with sessions() as session:
                return not await session.scalar(
                    text(
                        "SELECT count(*) FROM audit_log WHERE tenant = :t AND xact_id >= CAST(CAST("
                        "(SELECT coalesce(max(xid_upper), 0) FROM audit_seals) AS text) AS xid8)"
                    ),
                    {"t": ended},
                )

        await eventually(sealed, timeout=WAIT_S, what="the entries sealed")
        # One more, not sealed yet when the network ends: it is simply never sealed.
        async with sessions() as session, session.begin():
            await audit.record(session, tenant=ended, actor_id=str(uuid4()), action="subject.read")

        async with sessions() as session:
            before = await verify_log(session)
        async with sessions() as session, session.begin():
            _, erased = await erase_tenant(
                session,
                scope=TenantScope(service="library", metadata=sa.MetaData()),
                tenant=ended,
                reason="test",
            )
        assert erased == 3
        assert await _ids(sessions, ended) == []
        assert len(await _ids(sessions, other)) == 1
        async with sessions() as session:
            assert await session.scalar(
                text("SELECT count(*) FROM ended_networks WHERE slug = :t"), {"t": ended}
            )
            after = await verify_log(session)
        assert after.breaks == before.breaks
        assert after.entries_erased >= before.entries_erased + len(ids)

        # Any other deletion is still refused: the log stays append-only.
        with pytest.raises(DBAPIError, match="append-only"):
            async with sessions() as session, session.begin():
                await session.execute(text("DELETE FROM audit_log WHERE tenant = :t"), {"t": other})
        with pytest.raises(DBAPIError, match="append-only"):
            async with sessions() as session, session.begin():
                await session.execute(text("DELETE FROM audit_erasures"))
        # A live network's entry whose hash is copied into audit_erasures is not erased by that alone.
        with pytest.raises(DBAPIError, match="append-only"):
            async with sessions() as session, session.begin():
                await session.execute(
                    text(
                        "INSERT INTO audit_erasures (seq, xact_id, hash, sealed, reason) "
                        "SELECT seq, xact_id, hash, true, 'forged' FROM audit_log WHERE tenant = :t"
                    ),
                    {"t": other},
                )
                await session.execute(text("DELETE FROM audit_log WHERE tenant = :t"), {"t": other})
        assert len(await _ids(sessions, other)) == 1


async def _ids(sessions: Sessions, tenant: str) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(text("SELECT id::text FROM audit_log WHERE tenant = :t"), {"t": tenant})
        return list(rows.all())
