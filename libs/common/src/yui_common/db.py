"""Async engine, session factory and the request-scoped session that commits once per request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData, TextClause
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import greenlet_spawn

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


# --- hot reads on the driver's connection ------------------------------------------------------------------
# A hot read (issue 13: timeline's page) runs its few statements on the asyncpg connection itself, taken from
# the engine's pool: no session, no transaction (each statement commits on its own, as a read with its audit
# entry in the same statement needs), no SQLAlchemy execution or result machinery per statement.

_ASYNCPG_DIALECT = asyncpg_dialect.dialect()


@dataclass(frozen=True)
class DriverStatement:
    """A ``text()`` statement with named parameters, as the driver takes it: ``$n`` placeholders, and the
    parameter names in their order."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, stmt: TextClause) -> DriverStatement:
        compiled = stmt.compile(dialect=_ASYNCPG_DIALECT)
        return cls(compiled.string, tuple(compiled.positiontup or ()))

    def args(self, params: dict[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


async def driver_connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """The request's asyncpg connection, from the engine's pool (so its size, the pool's metrics and the round
    trip tests see it), outside any transaction; back to the pool when the handler returns.

    As on SQLAlchemy's own path: a connection the server closed (a restart, a failover) is replaced together
    with the pool's others of its generation, found at checkout when it closed while idle, else the request
    that met it fails as a 503 to retry; a request cancelled mid-statement discards its connection."""
    engine: AsyncEngine = request.app.state.engine
    proxied = await engine.raw_connection()
    connection: asyncpg.Connection = proxied.driver_connection
    if connection.is_closed():  # closed while it sat in the pool: asked of the socket, no round trip
        await greenlet_spawn(engine.sync_engine.pool._invalidate, proxied, None)
        proxied = await engine.raw_connection()
        connection = proxied.driver_connection
    try:
        yield connection
    except BaseException as exc:
        if connection.is_closed():
            await greenlet_spawn(engine.sync_engine.pool._invalidate, proxied, exc)
            if not isinstance(exc, asyncio.CancelledError):
                raise ConnectionResetError("the database closed the connection") from exc
        elif isinstance(exc, asyncio.CancelledError):  # a statement may still be running on it
            await greenlet_spawn(proxied.invalidate, exc)
        else:  # the request's own failure (a refusal, a statement the server rejected): the connection is idle
            await greenlet_spawn(proxied.close)
        raise
    else:
        await greenlet_spawn(proxied.close)


DriverConnection = Annotated[asyncpg.Connection, Depends(driver_connection, scope="function")]


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
