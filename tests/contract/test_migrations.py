"""Every service's Alembic history has one head, reached from a fresh database and from the old branches."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from yui_common.db import asyncpg_dsn, ensure_database
from yui_common.migrations import alembic_config, migrate
from yui_common.settings import CommonSettings

from tests.support.infrastructure import Infrastructure
from tests.support.stack import SERVICES, reset_database

REPO = Path(__file__).resolve().parents[2]

# The heads each history had before the merge revisions joined its branches: a deployment migrated before
# then has exactly these rows in alembic_version, and `python -m <service> migrate` must carry it on.
HEADS_BEFORE_MERGE = {
    "identity": ("0002_certificates", "audit_search_indexes", "p1_directory_publication"),
    "consent": ("0002", "audit_search_indexes"),
    "timeline": ("0002", "audit_search_indexes"),
    "portal": ("audit_search_indexes", "p1_public_site"),
    "notify": ("0002", "audit_search_indexes"),
}


def service_root(service: str) -> Path:
    return REPO / "services" / service


def heads_of(service: str) -> tuple[str, ...]:
    scripts = ScriptDirectory.from_config(Config(str(service_root(service) / "alembic.ini")))
    return tuple(scripts.get_heads())


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_have_exactly_one_head(service: str) -> None:
    heads = heads_of(service)
    assert len(heads) == 1, f"{service} has heads {heads}: join them with `alembic merge heads`"


@pytest.fixture
def scratch_settings(infra: Infrastructure, service: str) -> Iterator[CommonSettings]:
    """The service's settings pointed at a database of its own, so the stack's databases stay untouched."""
    settings_class = importlib.import_module(f"{service}.settings").Settings
    settings: CommonSettings = settings_class(database_prefix=f"{infra.database_prefix}migrations_")
    asyncio.run(reset_database(settings))
    yield settings
    asyncio.run(reset_database(settings))


def applied_revisions(settings: CommonSettings) -> set[str]:
    async def read() -> set[str]:
        conn = await asyncpg.connect(asyncpg_dsn(settings.dsn))
        try:
            return {row["version_num"] for row in await conn.fetch("SELECT version_num FROM alembic_version")}
        finally:
            await conn.close()

    return asyncio.run(read())


@pytest.mark.parametrize("service", SERVICES)
def test_migrate_brings_a_fresh_database_to_the_one_head(
    service: str, scratch_settings: CommonSettings
) -> None:
    migrate(service_root(service), scratch_settings)

    assert applied_revisions(scratch_settings) == set(heads_of(service))


# federation began after the merges, with one head.
@pytest.mark.parametrize("service", tuple(HEADS_BEFORE_MERGE))
def test_migrate_brings_a_database_at_the_old_heads_to_the_one_head(
    service: str, scratch_settings: CommonSettings
) -> None:
    config = alembic_config(service_root(service), scratch_settings)
    asyncio.run(ensure_database(scratch_settings))
    for old_head in HEADS_BEFORE_MERGE[service]:
        command.upgrade(config, old_head)
    assert applied_revisions(scratch_settings) == set(HEADS_BEFORE_MERGE[service])

    migrate(service_root(service), scratch_settings)

    assert applied_revisions(scratch_settings) == set(heads_of(service))
