"""The gate's cache (operations/gate_cache.py): a maintenance switch another portal process made is seen by
the next request after its NOTIFY arrives, and the terms accepted are re-checked when the version changes."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import uuid4

import asyncpg
from portal import session as staff_session
from portal.operations.gate_cache import CHANNEL, GateCache
from yui_common.db import asyncpg_dsn

from services.portal.tests.public_site_support import cookie_of
from services.portal.tests.test_maintenance import switch
from services.portal.tests.test_terms import publish
from tests.support.stack import Stack, eventually


def tenant() -> str:
    return f"gch-{uuid4().hex[:8]}"


async def listening_cache(stack: Stack) -> GateCache:
    cache: GateCache = stack["portal"].app.state.gate_cache
    await asyncio.wait_for(cache.wait_listening(), 10)
    return cache


def sealed_payload(stack: Stack, set_cookie: str) -> dict:
    value = re.search(rf"{staff_session.SESSION_COOKIE}=([^;]+)", set_cookie)
    assert value, set_cookie
    request = SimpleNamespace(app=stack["portal"].app)
    payload = staff_session.unseal(request, value.group(1))  # type: ignore[arg-type]
    assert payload is not None
    return payload


class TestMaintenanceState:
    async def test_o2_a_switch_by_another_process_is_seen_after_its_notify_arrives(
        self, stack: Stack
    ) -> None:
        t = tenant()
        cache = await listening_cache(stack)
        client = stack["portal"].client
        browser = cookie_of(stack, stack.staff(tenant=t))
        assert (await client.get("/staff/records", headers=browser)).status_code != 503
        assert cache.holds(("maintenance", t))
        # Another portal replica switches: its row commits here, and only its NOTIFY tells this process.
        connection = await asyncpg.connect(asyncpg_dsn(stack["portal"].settings.dsn))
        try:
            async with connection.transaction():
                await connection.execute(
                    "INSERT INTO maintenance_switches (id, scope, active, reason, switched_by, switched_by_role, "
                    "switched_at) VALUES ($1, $2, true, '別の系統から停止', 'operator-x', 'operator', now())",
                    uuid4(),
                    t,
                )
                await connection.execute("SELECT pg_notify($1, 'maintenance')", CHANNEL)
            try:

                async def closed() -> bool:
                    page = await client.get("/staff/records", headers=browser)
                    return page.status_code == 503 and "別の系統から停止" in page.text

                await eventually(closed, timeout=10, what="the staff page closed after the NOTIFY")
            finally:
                await switch(stack, t, False, "再開")
        finally:
            await connection.close()
        assert (await client.get("/staff/records", headers=browser)).status_code != 503

    async def test_o2_a_switch_through_this_process_is_seen_by_its_very_next_request(
        self, stack: Stack
    ) -> None:
        t = tenant()
        await listening_cache(stack)
        client = stack["portal"].client
        browser = cookie_of(stack, stack.staff(tenant=t))
        assert (await client.get("/staff/records", headers=browser)).status_code != 503
        await switch(stack, t, True)
        try:
            assert (await client.get("/staff/records", headers=browser)).status_code == 503
        finally:
            await switch(stack, t, False, "再開")
        assert (await client.get("/staff/records", headers=browser)).status_code != 503


class TestTermsInTheSession:
    async def test_p3_the_accepted_version_is_kept_in_the_cookie_and_rechecked_when_a_new_one_applies(
        self, stack: Stack
    ) -> None:
        t = tenant()
        await listening_cache(stack)
        first = await publish(stack, t, "1.0", datetime.now(UTC) - timedelta(days=1))
        staff = stack.staff(tenant=t)
        client = stack["portal"].client
        assert (await client.post("/api/terms/1.0/acceptance", headers=staff.headers)).status_code == 200
        page = await client.get("/staff/records", headers=cookie_of(stack, staff))
        assert "/terms/accept" not in page.headers.get("location", "")
        payload = sealed_payload(stack, page.headers["set-cookie"])
        assert payload["t"] == first["id"]
        browser = {"Cookie": page.headers["set-cookie"].split(";", 1)[0], "Accept": "text/html"}
        again = await client.get("/staff/records", headers=browser)
        assert "/terms/accept" not in again.headers.get("location", "")
        assert "set-cookie" not in again.headers  # the cookie already names the version in effect

        second = await publish(stack, t, "2.0", datetime.now(UTC) - timedelta(seconds=1))
        gated = await client.get("/staff/records", headers=browser)
        assert gated.status_code == 303 and gated.headers["location"].startswith("/terms/accept")
        assert (await client.post("/api/terms/2.0/acceptance", headers=staff.headers)).status_code == 200
        accepted = await client.get("/staff/records", headers=browser)
        assert "/terms/accept" not in accepted.headers.get("location", "")
        assert sealed_payload(stack, accepted.headers["set-cookie"])["t"] == second["id"]
