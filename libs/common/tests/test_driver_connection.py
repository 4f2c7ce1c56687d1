"""yui_common.db's hot-read connection (issue 13): the asyncpg connection itself, from the engine's pool, outside
any transaction; back to the pool after a refusal, replaced after the server dropped it (a 503 to retry)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from yui_common.db import DriverConnection, DriverStatement, asyncpg_dsn, create_engine
from yui_common.problems import Problem, install_database_problem_handlers, install_problem_handlers

from libs.common.tests.library_support import LibrarySettings
from tests.support.stack import eventually


def test_a_named_statement_becomes_the_drivers_numbered_one_with_its_names_in_order() -> None:
    statement = DriverStatement.of(text("SELECT :b, :a, CAST(:b AS text), x::text FROM t WHERE y = :c"))
    assert statement.sql == "SELECT $1, $2, CAST($1 AS text), x::text FROM t WHERE y = $3"
    assert statement.names == ("b", "a", "c")
    assert statement.args({"a": 1, "b": 2, "c": 3, "unused": 4}) == [2, 1, 3]


@pytest.fixture
async def one_connection_engine(library_settings: LibrarySettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(library_settings, pool_size=1, max_overflow=0)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def client(one_connection_engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.engine = one_connection_engine
    install_problem_handlers(app)
    install_database_problem_handlers(app)

    @app.get("/pid")
    async def pid(connection: DriverConnection) -> dict[str, object]:
        return {"pid": connection.get_server_pid(), "in_transaction": connection.is_in_transaction()}

    @app.get("/refused")
    async def refused(connection: DriverConnection) -> None:
        await connection.fetchval("SELECT 1")
        raise Problem(404, "not-found", "Not found", "Nothing here.")

    @app.get("/terminated")
    async def terminated(connection: DriverConnection) -> None:
        await connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as http:
        yield http


async def test_the_connection_is_outside_any_transaction_and_goes_back_to_the_pool_after_a_refusal(
    client: httpx.AsyncClient,
) -> None:
    first = (await client.get("/pid")).json()
    assert first["in_transaction"] is False
    refused = await client.get("/refused")
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.get("/pid")).json()["pid"] == first["pid"]  # the pool's one connection, kept


async def test_a_connection_the_server_ended_is_a_503_to_retry_and_the_next_request_gets_a_new_one(
    client: httpx.AsyncClient,
) -> None:
    before = (await client.get("/pid")).json()["pid"]
    ended = await client.get("/terminated")
    assert ended.status_code == 503, ended.text
    assert ended.headers["content-type"] == "application/problem+json"
    assert ended.headers["retry-after"] == "2"
    after = await client.get("/pid")
    assert after.status_code == 200
    assert after.json()["pid"] != before


async def test_a_connection_the_server_ended_while_it_sat_in_the_pool_is_replaced_at_checkout(
    client: httpx.AsyncClient, library_settings: LibrarySettings
) -> None:
    """As after a PostgreSQL restart: the pooled connection's socket is closed before any request meets it."""
    before = (await client.get("/pid")).json()["pid"]
    other = await asyncpg.connect(asyncpg_dsn(library_settings.dsn))
    try:
        assert await other.fetchval("SELECT pg_terminate_backend($1)", before)

        async def gone() -> bool:
            return not await other.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", before)

        await eventually(gone, what="the pooled connection's backend to end")
    finally:
        await other.close()
    await asyncio.sleep(0.05)  # the pooled connection reads the server's goodbye on the event loop
    after = await client.get("/pid")
    assert after.status_code == 200, after.text
    assert after.json()["pid"] != before
