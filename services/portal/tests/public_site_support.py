"""Helpers of the public-site tests: networks, staff cookies, the portal wired to identity in-process."""

from __future__ import annotations

import re
from types import SimpleNamespace
from uuid import UUID, uuid4

import httpx
from identity.models import Facility, Network
from portal import session as staff_session
from sqlalchemy import text

from tests.support.stack import Stack, Staff


def wire_identity(stack: Stack) -> None:
    """The portal calls identity's API in-process (as clients.service_client allows for tests)."""
    state = stack["portal"].app.state
    transports = dict(getattr(state, "service_transports", None) or {})
    if "identity" not in transports:
        transports["identity"] = httpx.ASGITransport(app=stack["identity"].app)
        state.service_transports = transports
        state.service_clients = {}


async def network(stack: Stack, *, facilities: int = 1) -> tuple[str, list[UUID]]:
    """A new network at identity with active facilities (each with an address and phone)."""
    tenant = f"pub-{uuid4().hex[:8]}"
    ids = [uuid4() for _ in range(facilities)]
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name="公開テスト ネット"))
        await session.flush()
        for n, facility_id in enumerate(ids):
            session.add(
                Facility(
                    id=facility_id,
                    tenant=tenant,
                    name=f"テスト診療所{n}",
                    kind="clinic",
                    address=f"北区 {n}-1",
                    phone=f"03-0000-000{n}",
                    administrator_name="管理 太郎",
                    administrator_email="admin@example.jp",
                )
            )
    return tenant, ids


def cookie_of(stack: Stack, staff: Staff, csrf: str = "csrf-token-of-the-test-session") -> dict[str, str]:
    """Headers of a browser signed in to the staff UI as ``staff`` (the sealed session cookie)."""
    sealed = staff_session.seal(
        SimpleNamespace(app=stack["portal"].app),  # type: ignore[arg-type]
        {"a": staff.token, "r": "refresh-token-unused", "s": str(uuid4()), "c": csrf, "l": "tester"},
    )
    return {"Cookie": f"{staff_session.SESSION_COOKIE}={sealed}", "Accept": "text/html"}


async def public_form_token(client: httpx.AsyncClient, path: str) -> tuple[str, dict[str, str]]:
    """GET a public form: its hidden CSRF token and the headers that send the matching cookie back."""
    response = await client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    token = re.search(r'name="csrf" value="([^"]+)"', response.text)
    assert token is not None
    return token.group(1), {"Cookie": f"yui_public_form={token.group(1)}", "Accept": "text/html"}


async def audit_actions(stack: Stack, service: str, tenant: str) -> list[tuple[str, str | None]]:
    async with stack[service].sessionmaker() as session:
        rows = await session.execute(
            text("SELECT action, target FROM audit_log WHERE tenant = :t ORDER BY seq"), {"t": tenant}
        )
        return [(r.action, r.target) for r in rows]


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}" and body["status"] == status
    return body  # type: ignore[no-any-return]
