"""Running a service's Alembic migrations (the migrate command and each service's env.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from yui_common.db import ensure_database
from yui_common.settings import CommonSettings


def alembic_config(service_root: Path, settings: CommonSettings) -> Config:
    config = Config(str(service_root / "alembic.ini"))
    config.set_main_option("script_location", str(service_root / "migrations"))
    config.set_main_option("sqlalchemy.url", settings.dsn.replace("%", "%%"))
    return config


def migrate(service_root: Path, settings: CommonSettings, revision: str = "heads") -> None:
    """Create the database if needed and upgrade every head (features may branch from one revision).

    Blocking: call from a thread inside an event loop.
    """
    asyncio.run(ensure_database(settings))
    command.upgrade(alembic_config(service_root, settings), revision)
    # The deny list is common infrastructure, not a service's own schema (see yui_common.revocations).
    from yui_common import network_export, networks, revocations

    revocations.ensure_table(settings.dsn)
    networks.ensure_table(settings.dsn)
    network_export.ensure_tables(settings.dsn)


def run_env(target_metadata: MetaData, settings_factory: Callable[[], CommonSettings]) -> None:
    """The body of every service's migrations/env.py (online mode, async engine)."""
    url = context.config.get_main_option("sqlalchemy.url") or settings_factory().dsn

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(str(url), poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run())
