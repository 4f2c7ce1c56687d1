"""Fixtures of the reliability scenarios: their own database, cleaned before each scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from yui_common.db import create_engine, create_sessionmaker

from tests.reliability.pings import ReliabilitySettings, create_reliability_database
from tests.support.infrastructure import Infrastructure


@pytest.fixture(scope="session")
async def reliability_database(infra: Infrastructure) -> ReliabilitySettings:
    settings = ReliabilitySettings()
    await create_reliability_database(settings)
    return settings


@pytest.fixture
async def reliability_engine(reliability_database: ReliabilitySettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(reliability_database)
    # Each scenario starts from empty tables: a relay sweeps every unpublished row, whoever wrote it.
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE outbox, inbox, ping_effects"))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def reliability_sessions(reliability_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(reliability_engine)
