"""P4: maintenance and emergency stops announced ahead with a banner on every page; discontinuation announced
at least the network's notice period (1, 3 or 6 months) ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.portal.tests.public_site_support import assert_problem, cookie_of
from tests.support.stack import Stack

HTML = {"Accept": "text/html"}


def tenant() -> str:
    return f"stp-{uuid4().hex[:8]}"


async def announce(stack: Stack, t: str, **notice: object) -> object:
    operator = stack.staff(tenant=t, roles=("operator",))
    return await stack["portal"].client.post("/api/operator/notices", json=notice, headers=operator.headers)


class TestBanners:
    async def test_p4_an_announced_maintenance_shows_a_banner_on_every_page(self, stack: Stack) -> None:
        t = tenant()
        start = datetime.now(UTC) + timedelta(days=2)
        response = await announce(
            stack,
            t,
            kind="maintenance",
            title="定期メンテナンス",
            body="サーバーを更新します。",
            starts_at=start.isoformat(),
            ends_at=(start + timedelta(hours=3)).isoformat(),
        )
        assert response.status_code == 201  # type: ignore[attr-defined]
        for path in ("/", "/join", "/notices", "/terms", "/inquiries", "/directory"):
            page = await stack["portal"].client.get(f"{path}?tenant={t}", headers=HTML)
            assert "site-banner--maintenance" in page.text and "定期メンテナンス" in page.text, path
        # A stop announced to users only: on the pages of signed-in staff, not on the public ones.
        window = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()}
        await announce(
            stack, t, kind="emergency_stop", audience="users", title="職員向け停止予告", body="b", **window
        )
        staff_page = await stack["portal"].client.get(
            "/notices", headers=cookie_of(stack, stack.staff(tenant=t))
        )
        assert "職員向け停止予告" in staff_page.text.split("<main")[0]
        public_page = await stack["portal"].client.get(f"/join?tenant={t}", headers=HTML)
        assert "職員向け停止予告" not in public_page.text

    async def test_p4_the_banner_goes_when_the_window_has_passed_or_the_notice_is_deleted(
        self, stack: Stack
    ) -> None:
        t = tenant()
        past = datetime.now(UTC) - timedelta(days=1)
        await announce(
            stack,
            t,
            kind="emergency_stop",
            title="過去の緊急停止",
            body="復旧済み",
            starts_at=past.isoformat(),
            ends_at=(past + timedelta(hours=1)).isoformat(),
        )
        soon = datetime.now(UTC) + timedelta(hours=1)
        upcoming = await announce(
            stack,
            t,
            kind="emergency_stop",
            title="緊急停止の予告",
            body="回線工事",
            starts_at=soon.isoformat(),
            ends_at=(soon + timedelta(hours=1)).isoformat(),
        )
        page = await stack["portal"].client.get(f"/?tenant={t}", headers=HTML)
        assert "緊急停止の予告" in page.text and "過去の緊急停止" not in page.text.split("<main")[0]
        operator = stack.staff(tenant=t, roles=("operator",))
        await stack["portal"].client.delete(
            f"/api/operator/notices/{upcoming.json()['id']}",
            headers=operator.headers,  # type: ignore[attr-defined]
        )
        page = await stack["portal"].client.get(f"/?tenant={t}", headers=HTML)
        assert "緊急停止の予告" not in page.text

    async def test_p4_a_stop_is_announced_with_its_window(self, stack: Stack) -> None:
        response = await announce(stack, tenant(), kind="maintenance", title="窓なし", body="本文")
        assert_problem(response, 422, "validation-error")  # type: ignore[arg-type]


class TestDiscontinuation:
    async def test_p4_discontinuation_inside_the_notice_period_is_refused(self, stack: Stack) -> None:
        t = tenant()  # the default notice period is three months
        too_soon = datetime.now(UTC) + timedelta(days=60)
        response = await announce(
            stack,
            t,
            kind="discontinuation",
            title="サービス終了",
            body="終了します",
            starts_at=too_soon.isoformat(),
        )
        body = assert_problem(response, 422, "notice-period-too-short")  # type: ignore[arg-type]
        assert body["notice_period_months"] == 3

    async def test_p4_discontinuation_far_enough_ahead_is_announced_to_everyone(self, stack: Stack) -> None:
        t = tenant()
        end = datetime.now(UTC) + timedelta(days=100)
        response = await announce(
            stack,
            t,
            kind="discontinuation",
            audience="users",
            title="サービス終了のお知らせ",
            body="終了します",
            starts_at=end.isoformat(),
        )
        assert response.status_code == 201 and response.json()["audience"] == "public"  # type: ignore[attr-defined]
        page = await stack["portal"].client.get(f"/?tenant={t}", headers=HTML)
        assert "site-banner--discontinuation" in page.text and "をもってサービスを終了します" in page.text

    async def test_p4_the_notice_period_is_a_network_setting(self, stack: Stack) -> None:
        t = tenant()
        operator = stack.staff(tenant=t, roles=("operator",))
        client = stack["portal"].client
        six = await client.patch(
            "/api/operator/settings", json={"notice_period_months": 6}, headers=operator.headers
        )
        assert six.status_code == 200 and six.json()["notice_period_months"] == 6
        four_months = datetime.now(UTC) + timedelta(days=125)
        refused = await announce(
            stack, t, kind="discontinuation", title="終了", body="b", starts_at=four_months.isoformat()
        )
        assert_problem(refused, 422, "notice-period-too-short")  # type: ignore[arg-type]
        await client.patch(
            "/api/operator/settings", json={"notice_period_months": 1}, headers=operator.headers
        )
        allowed = await announce(
            stack, t, kind="discontinuation", title="終了", body="b", starts_at=four_months.isoformat()
        )
        assert allowed.status_code == 201  # type: ignore[attr-defined]

    async def test_p4_only_one_three_or_six_months(self, stack: Stack) -> None:
        operator = stack.staff(tenant=tenant(), roles=("operator",))
        response = await stack["portal"].client.patch(
            "/api/operator/settings", json={"notice_period_months": 2}, headers=operator.headers
        )
        assert_problem(response, 422, "validation-error")


class TestOperatorPage:
    async def test_p4_the_operator_page_explains_a_too_short_notice_period(self, stack: Stack) -> None:
        t = tenant()
        browser = cookie_of(stack, stack.staff(tenant=t, roles=("operator",)))
        soon = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
        response = await stack["portal"].client.post(
            "/operator/notices",
            data={
                "csrf": "csrf-token-of-the-test-session",
                "kind": "discontinuation",
                "audience": "public",
                "title": "終了",
                "body": "終了します",
                "starts_at": soon,
            },
            headers=browser,
        )
        assert response.status_code == 422 and "告知期間が足りません" in response.text
        listed = await stack["portal"].client.get("/api/notices", params={"tenant": t})
        assert listed.json() == []
