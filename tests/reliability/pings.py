"""The reliability scenarios' own event, database and consumer: reliability.ping.v1 and its effect table."""

from __future__ import annotations

from typing import ClassVar

import sqlalchemy as sa
from pydantic_settings import SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from yui_common.bus.consumer import Handler, Subscription
from yui_common.db import ensure_database
from yui_common.events import Envelope, EventData, event
from yui_common.schema import infrastructure_tables
from yui_common.settings import CommonSettings

from tests.support.stack import reset_database


@event("reliability.ping.v1")
class PingV1(EventData):
    """A test-only event: ``sequence`` numbers the pings of one scenario; ``fail`` makes the handler raise."""

    scenario: str
    sequence: int
    fail: bool = False


class ReliabilitySettings(CommonSettings):
    """The reliability scenarios' own database (``<prefix>reliability``); each scenario names its exchange."""

    model_config = SettingsConfigDict(env_prefix="YUI_RELIABILITY_", extra="ignore")
    service_name: ClassVar[str] = "reliability"


def effect_table(metadata: sa.MetaData) -> sa.Table:
    """What a handled ping leaves behind: one row per event (unique), and how often it was applied."""
    return sa.Table(
        "ping_effects",
        metadata,
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("scenario", sa.Text, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("applications", sa.Integer, nullable=False),
        sa.Column(
            "applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.clock_timestamp()
        ),
    )


async def create_reliability_database(settings: CommonSettings) -> None:
    """A fresh database with the outbox, inbox and audit tables every service has, plus ``ping_effects``."""
    await reset_database(settings)
    await ensure_database(settings)
    metadata = sa.MetaData()
    infrastructure_tables(metadata)
    effect_table(metadata)
    engine = create_async_engine(settings.dsn)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


_APPLY = text(
    "INSERT INTO ping_effects (event_id, scenario, sequence, applications) "
    "VALUES (:id, :scenario, :sequence, 1) "
    "ON CONFLICT (event_id) DO UPDATE SET applications = ping_effects.applications + 1"
)


async def apply_ping(session: AsyncSession, envelope: Envelope, data: PingV1) -> None:
    """The business effect of a ping. Not idempotent on purpose: a second application shows in the counter."""
    await session.execute(_APPLY, {"id": envelope.id, "scenario": data.scenario, "sequence": data.sequence})


def ping_subscription(queue: str, handler: Handler = apply_ping) -> Subscription:  # type: ignore[assignment]
    return Subscription(queue=queue, handlers={PingV1.event_type: handler})


async def effects(session: AsyncSession, scenario: str) -> list[tuple[int, int]]:
    """(sequence, applications) of every effect row of one scenario, by sequence."""
    rows = await session.execute(
        text("SELECT sequence, applications FROM ping_effects WHERE scenario = :s ORDER BY sequence"),
        {"s": scenario},
    )
    return [(int(r[0]), int(r[1])) for r in rows]
