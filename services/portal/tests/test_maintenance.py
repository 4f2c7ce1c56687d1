"""O2: maintenance mode, switched by the operator (API) or the contractor (CLI): staff pages and writes get a
clear 503, public reads keep working, nothing is half-written; recorded, reported, published as an event."""

from __future__ import annotations

from uuid import uuid4

from portal.operations import cli
from sqlalchemy import text

from services.portal.tests.public_site_support import (
    assert_problem,
    audit_actions,
    cookie_of,
    public_form_token,
)
from tests.support.stack import Stack

HTML = {"Accept": "text/html"}


def tenant() -> str:
    return f"mnt-{uuid4().hex[:8]}"


async def switch(stack: Stack, t: str, active: bool, reason: str = "サーバーの更新") -> dict:
    operator = stack.staff(tenant=t, roles=("operator",))
    response = await stack["portal"].client.post(
        "/api/operator/maintenance", json={"active": active, "reason": reason}, headers=operator.headers
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def outbox_events(stack: Stack, t: str) -> list[dict]:
    async with stack["portal"].sessionmaker() as session:
        rows = await session.execute(
            text(
                "SELECT envelope FROM outbox WHERE event_type = :e AND envelope->>'tenant' = :t "
                "ORDER BY created_at"
            ),
            {"e": "portal.maintenance-changed.v1", "t": t},
        )
        return [r.envelope for r in rows]


class TestOperatorSwitch:
    async def test_o2_staff_pages_and_writes_get_503_while_public_reads_work(self, stack: Stack) -> None:
        t = tenant()
        client = stack["portal"].client
        token, browser = await public_form_token(client, f"/inquiries?tenant={t}")
        state = await switch(stack, t, True)
        assert state["active"] is True and state["scope"] == t
        try:
            staff = stack.staff(tenant=t)
            page = await client.get("/staff/records", headers=cookie_of(stack, staff))
            assert page.status_code == 503 and "メンテナンス中" in page.text and "サーバーの更新" in page.text
            api = await client.post("/api/terms/1.0/acceptance", headers=staff.headers)
            assert_problem(api, 503, "maintenance")
            home = await client.get(f"/?tenant={t}", headers=HTML)
            assert home.status_code == 200 and "ただいまメンテナンス中です。" in home.text
            assert (await client.get("/api/notices", params={"tenant": t})).status_code == 200
            blocked = await client.post(
                f"/inquiries?tenant={t}",
                data={"csrf": token, "name": "a", "email": "a@b.jp", "subject": "s", "body": "b"},
                headers=browser,
            )
            assert blocked.status_code == 503
            async with stack["portal"].sessionmaker() as session:
                count = await session.scalar(
                    text("SELECT count(*) FROM inquiries WHERE tenant = :t"), {"t": t}
                )
            assert count == 0  # refused before any handler ran: nothing half-written
            other_network = await client.get(
                "/staff/records", headers=cookie_of(stack, stack.staff(tenant=tenant()))
            )
            assert other_network.status_code != 503
        finally:
            await switch(stack, t, False, "更新完了")
        after = await client.post("/api/terms/1.0/acceptance", headers=stack.staff(tenant=t).headers)
        assert after.status_code == 404  # no such version: the request reached the service again

    async def test_o2_the_switch_is_recorded_reported_and_published(self, stack: Stack) -> None:
        t = tenant()
        await switch(stack, t, True, "緊急のセキュリティ更新")
        await switch(stack, t, False, "更新完了")
        notices = (await stack["portal"].client.get("/api/notices", params={"tenant": t})).json()
        assert [n["kind"] for n in notices] == ["maintenance_report", "maintenance_report"]
        assert "緊急のセキュリティ更新" in notices[1]["body"]
        actions = [a for a, _ in await audit_actions(stack, "portal", t)]
        assert (
            actions.count("maintenance.switched-on") == 1 and actions.count("maintenance.switched-off") == 1
        )
        events = await outbox_events(stack, t)
        assert [e["data"]["active"] for e in events] == [True, False]
        assert events[0]["data"]["scope"] == t and events[0]["data"]["switched_by_role"] == "operator"
        async with stack["portal"].sessionmaker() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT active, reason FROM maintenance_switches WHERE scope = :t "
                        "ORDER BY switched_at"
                    ),
                    {"t": t},
                )
            ).all()
        assert [(r.active, r.reason) for r in rows] == [(True, "緊急のセキュリティ更新"), (False, "更新完了")]

    async def test_o2_only_the_operator_or_contractor_switches(self, stack: Stack) -> None:
        staff = stack.staff(tenant=tenant(), roles=("staff", "facility_admin"))
        response = await stack["portal"].client.post(
            "/api/operator/maintenance", json={"active": True, "reason": "x"}, headers=staff.headers
        )
        assert_problem(response, 403, "forbidden")

    async def test_o2_a_switch_needs_a_reason(self, stack: Stack) -> None:
        operator = stack.staff(tenant=tenant(), roles=("operator",))
        response = await stack["portal"].client.post(
            "/api/operator/maintenance", json={"active": True, "reason": ""}, headers=operator.headers
        )
        assert_problem(response, 422, "validation-error")


class TestContractorCli:
    async def test_o2_the_contractor_switches_from_the_command_line(self, stack: Stack) -> None:
        t = tenant()
        settings = stack["portal"].settings
        assert await cli.run(settings, ["on", "--reason", "データベース障害", "--tenant", t]) == 0
        try:
            page = await stack["portal"].client.get(
                "/staff/records", headers=cookie_of(stack, stack.staff(tenant=t))
            )
            assert page.status_code == 503 and "データベース障害" in page.text
            events = await outbox_events(stack, t)
            assert (
                events[-1]["data"]["switched_by_role"] == "contractor"
                and events[-1]["data"]["active"] is True
            )
        finally:
            assert await cli.run(settings, ["off", "--reason", "復旧", "--tenant", t]) == 0
        page = await stack["portal"].client.get(
            "/staff/records", headers=cookie_of(stack, stack.staff(tenant=t))
        )
        assert page.status_code != 503
        assert "maintenance.switched-on" in [a for a, _ in await audit_actions(stack, "portal", t)]

    async def test_o2_the_contractor_stops_the_whole_deployment(self, stack: Stack) -> None:
        settings = stack["portal"].settings
        first, second = tenant(), tenant()
        assert await cli.run(settings, ["on", "--reason", "全体停止"]) == 0  # scope "*" by default
        try:
            for t in (first, second):
                page = await stack["portal"].client.get(
                    "/staff/records", headers=cookie_of(stack, stack.staff(tenant=t))
                )
                assert page.status_code == 503, t
            public = await stack["portal"].client.get(f"/notices?tenant={first}", headers=HTML)
            assert public.status_code == 200 and "全体停止" in public.text
        finally:
            assert await cli.run(settings, ["off", "--reason", "全体再開"]) == 0
        page = await stack["portal"].client.get(
            "/staff/records", headers=cookie_of(stack, stack.staff(tenant=first))
        )
        assert page.status_code != 503

    async def test_o2_the_command_line_refuses_a_switch_without_reason(self, stack: Stack) -> None:
        assert await cli.run(stack["portal"].settings, ["on", "--tenant", tenant()]) == 2

    async def test_o2_the_operator_can_still_switch_off_during_maintenance(self, stack: Stack) -> None:
        t = tenant()
        await switch(stack, t, True)
        await switch(stack, t, False, "完了")  # the operator's API is never closed for maintenance
        operator = stack.staff(tenant=t, roles=("operator",))
        state = await stack["portal"].client.get("/api/maintenance", headers=operator.headers)
        assert state.json()["active"] is False


class TestOperatorPages:
    async def test_o2_the_operator_switches_from_the_operator_page(self, stack: Stack) -> None:
        t = tenant()
        operator = stack.staff(tenant=t, roles=("operator",))
        browser = cookie_of(stack, operator)
        client = stack["portal"].client
        page = await client.get("/operator", headers=browser)
        assert page.status_code == 200 and "メンテナンスモード" in page.text and "<script" not in page.text
        form = {"csrf": "csrf-token-of-the-test-session", "active": "on", "reason": "画面から停止"}
        switched = await client.post("/operator/maintenance", data=form, headers=browser)
        assert switched.status_code == 303
        staff_page = await client.get("/staff/records", headers=cookie_of(stack, stack.staff(tenant=t)))
        assert staff_page.status_code == 503
        page = await client.get("/operator", headers=browser)  # the operator's pages stay open
        assert page.status_code == 200 and "画面から停止" in page.text
        form = {"csrf": "csrf-token-of-the-test-session", "active": "off", "reason": "画面から再開"}
        assert (await client.post("/operator/maintenance", data=form, headers=browser)).status_code == 303
        staff_page = await client.get("/staff/records", headers=cookie_of(stack, stack.staff(tenant=t)))
        assert staff_page.status_code != 503

    async def test_o2_the_operator_page_refuses_others_and_forged_forms(self, stack: Stack) -> None:
        t = tenant()
        client = stack["portal"].client
        staff = cookie_of(stack, stack.staff(tenant=t, roles=("staff", "facility_admin")))
        assert (await client.get("/operator", headers=staff)).status_code == 403
        operator = cookie_of(stack, stack.staff(tenant=t, roles=("operator",)))
        forged = await client.post(
            "/operator/maintenance", data={"csrf": "forged", "active": "on", "reason": "x"}, headers=operator
        )
        assert forged.status_code == 403
        state = await client.get(
            "/api/maintenance", headers=stack.staff(tenant=t, roles=("operator",)).headers
        )
        assert state.json()["active"] is False
