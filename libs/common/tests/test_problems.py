"""yui_common.problems: every error is RFC 9457 problem+json with a stable type; bad input is 4xx, never 5xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import text
from yui_common.problems import (
    Problem,
    install_database_problem_handlers,
    install_problem_handlers,
    not_found,
)

from libs.common.tests.library_support import Sessions, scalar

PROBLEM_JSON = "application/problem+json"


class VisitCreate(BaseModel):
    subject_id: UUID
    minutes: int = Field(ge=1, le=600)
    note: str = ""


def app_with_routes(sessions: Sessions) -> FastAPI:
    """A service's error handling as every service installs it (yui_common.app does the same two calls)."""
    app = FastAPI()
    install_problem_handlers(app)
    install_database_problem_handlers(app)

    @app.post("/visits", status_code=201)
    async def create_visit(visit: VisitCreate) -> dict[str, Any]:
        # The note goes to the database as given: only PostgreSQL can refuse what pydantic lets through.
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO ledger (scenario) VALUES (:s)"), {"s": visit.note})
        return {"minutes": visit.minutes}

    @app.get("/visits/{visit_id}")
    async def read_visit(visit_id: int, page: int = 1) -> dict[str, int]:
        return {"id": visit_id, "page": page}

    @app.put("/ledger/{row_id}")
    async def put_row(row_id: int) -> dict[str, int]:
        async with sessions() as session, session.begin():
            await session.execute(
                text("INSERT INTO ledger (id, scenario) OVERRIDING SYSTEM VALUE VALUES (:id, 'problems')"),
                {"id": row_id},
            )
        return {"id": row_id}

    @app.get("/refused")
    async def refused() -> None:
        raise Problem(
            403, "not-on-care-team", "Forbidden", "You are not on this subject's care team.", hint="ask"
        )

    @app.get("/signed-out")
    async def signed_out() -> None:
        raise Problem(401, "unauthenticated", "Not signed in", "Sign in first.")

    @app.get("/visits/{visit_id}/notes")
    async def visit_notes(visit_id: int) -> None:
        raise not_found("visit")

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("password=hunter2 in a connection string")

    return app


@pytest.fixture
async def client(sessions: Sessions) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: Starlette re-raises an unhandled error after answering, as a server would log it.
    transport = httpx.ASGITransport(app=app_with_routes(sessions), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as http:
        yield http


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The response is a problem document agreeing with its status line, of the given stable type."""
    where = (
        f"{response.request.method} {response.request.url.path} -> {response.status_code}: {response.text}"
    )
    assert response.status_code == status, where
    assert response.headers["content-type"].startswith(PROBLEM_JSON), where
    body = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}", where
    assert body["status"] == status, where
    assert isinstance(body["title"], str) and body["title"], where
    assert body["instance"] == response.request.url.path, where
    return body


class TestValidationErrors:
    async def test_an_invalid_body_is_a_422_problem_naming_each_field(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post("/visits", json={"subject_id": "not-a-uuid", "minutes": 0})
        body = problem(response, 422, "validation-error")
        assert {tuple(error["location"]) for error in body["errors"]} == {
            ("body", "subject_id"),
            ("body", "minutes"),
        }
        assert all(error["message"] and error["kind"] for error in body["errors"])

    async def test_a_body_that_is_not_json_is_a_422_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/visits", content=b"{not json", headers={"content-type": "application/json"}
        )
        problem(response, 422, "validation-error")

    async def test_a_missing_body_is_a_422_problem(self, client: httpx.AsyncClient) -> None:
        problem(await client.post("/visits"), 422, "validation-error")

    async def test_a_path_or_query_parameter_of_the_wrong_type_is_a_422_problem(
        self, client: httpx.AsyncClient
    ) -> None:
        for path in ("/visits/seven", "/visits/7?page=first"):
            problem(await client.get(path), 422, "validation-error")

    async def test_text_only_the_database_refuses_is_a_422_problem_and_nothing_is_written(
        self, client: httpx.AsyncClient, sessions: Sessions
    ) -> None:
        note = "visit\x00note"
        response = await client.post(
            "/visits", json={"subject_id": str(UUID(int=1)), "minutes": 30, "note": note}
        )
        problem(response, 422, "validation-error")
        assert await scalar(sessions, "SELECT count(*) FROM ledger WHERE scenario LIKE 'visit%'") == 0

    async def test_a_number_out_of_the_columns_range_is_a_422_problem(
        self, client: httpx.AsyncClient
    ) -> None:
        problem(await client.put(f"/ledger/{2**40}"), 422, "validation-error")

    async def test_a_conflict_with_existing_data_is_a_409_problem(self, client: httpx.AsyncClient) -> None:
        row_id = 2_000_000_000
        assert (await client.put(f"/ledger/{row_id}")).status_code == 200
        problem(await client.put(f"/ledger/{row_id}"), 409, "conflict")


class TestOtherErrors:
    async def test_an_unknown_path_is_a_404_problem(self, client: httpx.AsyncClient) -> None:
        problem(await client.get("/no/such/thing"), 404, "not-found")

    async def test_an_unknown_path_answers_the_same_body_as_an_unreachable_object(
        self, client: httpx.AsyncClient
    ) -> None:
        unknown_route = problem(await client.get("/no/such/thing"), 404, "not-found")
        unreachable = problem(await client.get("/visits/7/notes"), 404, "not-found")
        del unknown_route["instance"], unreachable["instance"]  # the path asked, the one difference
        assert unknown_route == unreachable

    async def test_a_method_the_route_does_not_allow_is_a_405_problem(
        self, client: httpx.AsyncClient
    ) -> None:
        problem(await client.delete("/visits/7"), 405, "method-not-allowed")

    async def test_a_raised_problem_keeps_its_type_detail_and_extensions(
        self, client: httpx.AsyncClient
    ) -> None:
        body = problem(await client.get("/refused"), 403, "not-on-care-team")
        assert body["detail"] == "You are not on this subject's care team."
        assert body["hint"] == "ask"

    async def test_a_401_problem_tells_the_client_to_bring_a_bearer_token(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/signed-out")
        problem(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_an_unexpected_error_is_a_500_problem_that_reveals_nothing_of_it(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/broken")
        problem(response, 500, "internal-error")
        assert "hunter2" not in response.text
        assert "RuntimeError" not in response.text


def app_with_an_unreachable_database(sessions: Sessions) -> FastAPI:
    """Routes whose database goes away as in a PostgreSQL restart: refused connects, a connection ended
    under a running request, a server still starting up."""
    from sqlalchemy.ext.asyncio import create_async_engine

    app = FastAPI()
    install_problem_handlers(app)
    install_database_problem_handlers(app)

    @app.get("/refused")
    async def refused() -> None:
        # A port nothing listens on: the pool's connect fails as it does while PostgreSQL is down.
        engine = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:9/postgres")
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    @app.get("/terminated")
    async def terminated() -> None:
        async with sessions() as session, session.begin():
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    @app.get("/starting-up")
    async def starting_up() -> None:
        import asyncpg

        # What asyncpg raises when it connects to a server still starting up (SQLSTATE 57P03).
        raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")

    return app


class TestDatabaseUnavailable:
    @pytest.fixture
    async def client(self, sessions: Sessions) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(
            app=app_with_an_unreachable_database(sessions), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as http:
            yield http

    @pytest.mark.parametrize("path", ["/refused", "/terminated", "/starting-up"])
    async def test_a_database_that_is_away_is_a_503_problem_to_retry_after_2_seconds(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        problem(response, 503, "service-unavailable")
        assert response.headers["retry-after"] == "2"
