"""Async engine, session factory and the request-scoped session that commits once per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from yui_common.settings import CommonSettings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class ServiceBase(DeclarativeBase):
    """Each service subclasses this with its own ``metadata = new_metadata()``."""

    __abstract__ = True


def create_engine(settings: CommonSettings, **options: Any) -> AsyncEngine:
    """The service's engine; ``options`` override ``settings.engine_options()``.

    No pre-ping, in APIs as in workers: on asyncpg a ping is three round trips (BEGIN, an empty statement,
    ROLLBACK) before every checkout, more than a hot page's own statements (issue 13). A connection that died
    meanwhile fails the one request that meets it; SQLAlchemy sees the disconnect, invalidates the pool and
    the next checkouts open fresh connections.

    ``hide_parameters`` always (not overridable): a failed statement's exception, and so every log line and
    trace that records it, would otherwise carry its bound values, which are names, birth dates and notes of
    the people in care (issue 14).
    """
    engine = create_async_engine(
        settings.dsn,
        **{**settings.engine_options(), "pool_pre_ping": False, **options, "hide_parameters": True},
    )
    if settings.otel_exporter_otlp_endpoint:
        # The SQL tracer costs ~0.2 ms of CPU per statement even when no span is recorded (bench/bus.py):
        # instrument only when traces leave the process.
        _trace_sql(engine)
    return engine


def _trace_sql(engine: AsyncEngine) -> None:
    """SQL spans for this engine. The instrumentor itself is a process-wide singleton that warns when
    called for a second engine, so each engine gets its own EngineTracer."""
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        usage = metrics.get_meter("yui.sqlalchemy").create_up_down_counter(
            "db.client.connections.usage", unit="connections"
        )
        EngineTracer(trace.get_tracer("opentelemetry.instrumentation.sqlalchemy"), engine.sync_engine, usage)
    except Exception:  # noqa: S110 - tracing must never stop the service from starting
        pass


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request: commit when the handler returns, else roll back."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function": the commit ends before the response is sent. FastAPI's default ("request") would run
# it after the client already has its 2xx, so a failed commit could not change the answer and a client's
# next request might not see its own write.
DbSession = Annotated[AsyncSession, Depends(get_db_session, scope="function")]


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The plain libpq-style DSN asyncpg wants, from a SQLAlchemy URL."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def ensure_database(settings: CommonSettings) -> bool:
    """Create the service's database when it is missing. Returns True when it was created."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.dsn)
    name = url.database
    server = url.set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(asyncpg_dsn(server))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()
