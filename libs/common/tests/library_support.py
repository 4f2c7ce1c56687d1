"""What the yui_common tests share: their own database and event, a business table, and broker helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import aio_pika
import asyncpg
import sqlalchemy as sa
from pydantic_settings import SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from yui_common.db import asyncpg_dsn, ensure_database
from yui_common.events import Envelope, EventData, event
from yui_common.schema import create_infrastructure
from yui_common.settings import CommonSettings

Sessions = async_sessionmaker[AsyncSession]
# Every wait on the broker or the database is bounded, so a broken promise fails the test instead of hanging it.
WAIT_S = 30.0


@event("library.ping.v1")
class LibraryPingV1(EventData):
    """A test-only event: ``scenario`` keeps one test's effects apart from another's."""

    scenario: str
    sequence: int = 0


class LibrarySettings(CommonSettings):
    """The yui_common tests' own database, ``<prefix>common_library``, dropped when the session ends."""

    model_config = SettingsConfigDict(env_prefix="YUI_COMMON_LIBRARY_", extra="ignore")
    service_name: ClassVar[str] = "common_library"


def business_tables(metadata: sa.MetaData) -> None:
    """A business change for the outbox to ride along with, and the effect a consumer's handler leaves."""
    sa.Table(
        "ledger",
        metadata,
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("scenario", sa.Text, nullable=False),
    )
    sa.Table(
        "effects",
        metadata,
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("scenario", sa.Text, nullable=False),
        sa.Column("applications", sa.Integer, nullable=False),
    )
    # An effect that can only commit once its parent exists: the foreign key is checked at COMMIT, so a
    # handler that wrote one returns normally and its transaction fails afterwards.
    sa.Table("parents", metadata, sa.Column("id", UUID(as_uuid=True), primary_key=True))
    sa.Table(
        "deferred_effects",
        metadata,
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "parent_id",
            UUID(as_uuid=True),
            sa.ForeignKey("parents.id", deferrable=True, initially="DEFERRED"),
            nullable=False,
        ),
    )


async def drop_database(settings: CommonSettings) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings.postgres_url.rstrip("/") + "/postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{settings.database_name}" WITH (FORCE)')
    finally:
        await conn.close()


async def create_library_database(settings: CommonSettings) -> None:
    """A fresh database with every service's outbox, inbox and append-only audit log, plus our tables."""
    await drop_database(settings)
    await ensure_database(settings)
    metadata = sa.MetaData()
    business_tables(metadata)
    engine = create_async_engine(settings.dsn)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(create_infrastructure)
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


_APPLY = text(
    "INSERT INTO effects (event_id, scenario, applications) VALUES (:id, :scenario, 1) "
    "ON CONFLICT (event_id) DO UPDATE SET applications = effects.applications + 1"
)


async def apply_ping(session: AsyncSession, envelope: Envelope, data: LibraryPingV1) -> None:
    """The business effect of a ping. Not idempotent on purpose: a second application shows in the counter."""
    await session.execute(_APPLY, {"id": envelope.id, "scenario": data.scenario})


async def scalar(sessions: Sessions, sql: str, **params: Any) -> Any:
    async with sessions() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def applications(sessions: Sessions, scenario: str) -> list[int]:
    """How often each effect of one scenario was applied."""
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT applications FROM effects WHERE scenario = :s ORDER BY event_id"), {"s": scenario}
        )
        return [int(r[0]) for r in rows]


async def eventually(check: Callable[[], Awaitable[Any]], *, what: str, timeout: float = WAIT_S) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` when ``timeout`` runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@dataclass
class Broker:
    """The tests' RabbitMQ virtual host, seen from outside the code under test."""

    amqp_url: str

    async def depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (unacknowledged ones are not counted)."""
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, passive=True)
            return declared.declaration_result.message_count or 0

    async def take_all(self, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Remove and return every message ready in ``queue``."""
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            declared = await channel.declare_queue(queue, passive=True)
            taken = []
            while (message := await declared.get(no_ack=True, fail=False)) is not None:
                taken.append(message)
            return taken
