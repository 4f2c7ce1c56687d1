"""P3: changes announced; terms versions published; each user accepts the version in effect to go on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import text

from services.portal.tests.public_site_support import assert_problem, audit_actions, cookie_of
from tests.support.stack import Stack


def tenant() -> str:
    return f"trm-{uuid4().hex[:8]}"


async def publish(stack: Stack, t: str, version: str, effective_at: datetime) -> dict:
    operator = stack.staff(tenant=t, roles=("operator",))
    response = await stack["portal"].client.post(
        "/api/operator/terms",
        json={
            "version": version,
            "title": f"利用規約 第{version}版",
            "body": "第1条 目的\n第2条 定義",
            "summary_of_changes": "第2条を改めました。",
            "effective_at": effective_at.isoformat(),
        },
        headers=operator.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


class TestPublication:
    async def test_p3_published_versions_are_listed_and_the_change_is_announced(self, stack: Stack) -> None:
        t = tenant()
        await publish(stack, t, "1.0", datetime.now(UTC) - timedelta(days=30))
        await publish(stack, t, "2.0", datetime.now(UTC) + timedelta(days=30))
        client = stack["portal"].client
        versions = await client.get("/api/terms", params={"tenant": t})
        assert [v["version"] for v in versions.json()] == ["2.0", "1.0"]
        page = await client.get(f"/terms?tenant={t}", headers={"Accept": "text/html"})
        assert "現行" in page.text and "施行予定" in page.text
        detail = await client.get(f"/terms/2.0?tenant={t}", headers={"Accept": "text/html"})
        assert "第2条を改めました。" in detail.text
        notices = await client.get("/api/notices", params={"tenant": t})
        assert [n["kind"] for n in notices.json()].count("terms_change") == 2

    async def test_p3_a_version_is_published_once(self, stack: Stack) -> None:
        t = tenant()
        await publish(stack, t, "1.0", datetime.now(UTC))
        operator = stack.staff(tenant=t, roles=("operator",))
        again = await stack["portal"].client.post(
            "/api/operator/terms",
            json={"version": "1.0", "title": "t", "body": "b", "effective_at": datetime.now(UTC).isoformat()},
            headers=operator.headers,
        )
        assert_problem(again, 409, "terms-version-exists")

    async def test_p3_service_changes_are_announced_as_notices(self, stack: Stack) -> None:
        t = tenant()
        operator = stack.staff(tenant=t, roles=("operator",))
        posted = await stack["portal"].client.post(
            "/api/operator/notices",
            json={"kind": "service_change", "title": "画面の変更", "body": "記録画面が新しくなります。"},
            headers=operator.headers,
        )
        assert posted.status_code == 201 and posted.json()["kind"] == "service_change"


class TestAcceptance:
    async def test_p3_staff_pages_redirect_to_the_acceptance_page_until_accepted(self, stack: Stack) -> None:
        t = tenant()
        await publish(stack, t, "1.0", datetime.now(UTC) - timedelta(minutes=1))
        staff = stack.staff(tenant=t, roles=("staff",))
        browser = cookie_of(stack, staff)
        client = stack["portal"].client
        gated = await client.get("/staff/records?x=1", headers=browser)
        assert gated.status_code == 303
        assert gated.headers["location"].startswith("/terms/accept?next=%2Fstaff%2Frecords%3Fx%3D1")
        page = await client.get(gated.headers["location"], headers=browser)
        assert page.status_code == 200 and "第2条 定義" in page.text and 'name="csrf"' in page.text
        refused = await client.post(
            "/terms/accept",
            data={"csrf": "csrf-token-of-the-test-session", "version": "1.0", "next": "/staff/records"},
            headers=browser,
        )
        assert refused.status_code == 422 and "チェックを入れてください" in refused.text
        accepted = await client.post(
            "/terms/accept",
            data={
                "csrf": "csrf-token-of-the-test-session",
                "version": "1.0",
                "next": "/staff/records",
                "agree": "yes",
            },
            headers=browser,
        )
        assert accepted.status_code == 303 and accepted.headers["location"] == "/staff/records"
        after = await client.get("/staff/records", headers=browser)
        assert after.status_code != 303 or "/terms/accept" not in after.headers.get("location", "")
        pending = await client.get("/api/terms/pending", headers=staff.headers)
        assert pending.json() is None

    async def test_p3_acceptance_is_recorded_and_audited(self, stack: Stack) -> None:
        t = tenant()
        terms = await publish(stack, t, "3.1", datetime.now(UTC) - timedelta(minutes=1))
        staff = stack.staff(tenant=t)
        client = stack["portal"].client
        accepted = await client.post("/api/terms/3.1/acceptance", headers=staff.headers)
        assert accepted.status_code == 200 and accepted.json()["user_id"] == str(staff.user_id)
        operator = stack.staff(tenant=t, roles=("operator",))
        who = await client.get("/api/operator/terms/3.1/acceptances", headers=operator.headers)
        assert [(a["user_id"], a["terms_version_id"]) for a in who.json()] == [
            (str(staff.user_id), terms["id"])
        ]
        assert ("terms.accepted", f"terms:{terms['id']}") in await audit_actions(stack, "portal", t)
        async with stack["portal"].sessionmaker() as session:
            count = await session.scalar(
                text("SELECT count(*) FROM terms_acceptances WHERE user_id = :u"), {"u": staff.user_id}
            )
        assert count == 1

    async def test_p3_a_version_not_yet_in_effect_asks_for_nothing(self, stack: Stack) -> None:
        t = tenant()
        await publish(stack, t, "9.0", datetime.now(UTC) + timedelta(days=1))
        staff = stack.staff(tenant=t)
        gated = await stack["portal"].client.get("/staff/records", headers=cookie_of(stack, staff))
        assert "/terms/accept" not in gated.headers.get("location", "")
        early = await stack["portal"].client.post("/api/terms/9.0/acceptance", headers=staff.headers)
        assert_problem(early, 409, "terms-not-in-effect")

    async def test_p3_acceptance_without_the_forms_csrf_token_is_refused(self, stack: Stack) -> None:
        t = tenant()
        await publish(stack, t, "1.0", datetime.now(UTC) - timedelta(minutes=1))
        browser = cookie_of(stack, stack.staff(tenant=t))
        forged = await stack["portal"].client.post(
            "/terms/accept", data={"csrf": "wrong", "version": "1.0", "agree": "yes"}, headers=browser
        )
        assert forged.status_code == 403

    async def test_p3_the_next_target_never_leaves_the_site(self, stack: Stack) -> None:
        t = tenant()
        await publish(stack, t, "1.0", datetime.now(UTC) - timedelta(minutes=1))
        browser = cookie_of(stack, stack.staff(tenant=t))
        accepted = await stack["portal"].client.post(
            "/terms/accept",
            data={
                "csrf": "csrf-token-of-the-test-session",
                "version": "1.0",
                "agree": "yes",
                "next": "//evil.example",
            },
            headers=browser,
        )
        assert accepted.status_code == 303 and accepted.headers["location"] == "/staff/"
