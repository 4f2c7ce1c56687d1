"""Fixtures of the yui_common tests: their own database on the real PostgreSQL, the real broker's vhost."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from yui_common.db import create_engine, create_sessionmaker

from libs.common.tests.library_support import (
    Broker,
    LibrarySettings,
    Sessions,
    create_library_database,
    drop_database,
)
from tests.support.infrastructure import Infrastructure


@pytest.fixture(scope="session")
async def library_settings(infra: Infrastructure) -> AsyncIterator[LibrarySettings]:
    # Built after `infra` exported the test infrastructure, so it names this run's server, prefix and vhost.
    settings = LibrarySettings()
    assert settings.database_name.startswith(infra.database_prefix)
    await create_library_database(settings)
    try:
        yield settings
    finally:
        await drop_database(settings)


@pytest.fixture(scope="session")
async def library_engine(library_settings: LibrarySettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(library_settings)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sessions(library_engine: AsyncEngine) -> Sessions:
    return create_sessionmaker(library_engine)


@pytest.fixture(scope="session")
def broker(library_settings: LibrarySettings) -> Broker:
    return Broker(library_settings.amqp_url)
