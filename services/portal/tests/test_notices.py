"""P2: operator's notices: users-only ones reach only the network's signed-in staff; deletable any time."""

from __future__ import annotations

from uuid import uuid4

from services.portal.tests.public_site_support import assert_problem, audit_actions, cookie_of
from tests.support.stack import Stack


def tenant() -> str:
    return f"ntc-{uuid4().hex[:8]}"


async def post(stack: Stack, t: str, **notice: object) -> dict:
    operator = stack.staff(tenant=t, roles=("operator",))
    response = await stack["portal"].client.post(
        "/api/operator/notices", json=notice, headers=operator.headers
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


class TestUsersOnlyNotices:
    async def test_p2_users_only_notice_is_hidden_from_the_public(self, stack: Stack) -> None:
        t = tenant()
        notice = await post(stack, t, audience="users", title="職員向け連絡", body="研修のご案内")
        client = stack["portal"].client
        public = await client.get("/api/notices", params={"tenant": t})
        assert notice["id"] not in {n["id"] for n in public.json()}
        page = await client.get(f"/notices?tenant={t}", headers={"Accept": "text/html"})
        assert "職員向け連絡" not in page.text
        detail = await client.get(f"/notices/{notice['id']}?tenant={t}", headers={"Accept": "text/html"})
        assert detail.status_code == 404

    async def test_p2_signed_in_staff_of_the_network_see_it(self, stack: Stack) -> None:
        t = tenant()
        notice = await post(stack, t, audience="users", title="職員向け連絡", body="研修のご案内")
        staff = stack.staff(tenant=t)
        listed = await stack["portal"].client.get("/api/notices", headers=staff.headers)
        assert notice["id"] in {n["id"] for n in listed.json()}
        page = await stack["portal"].client.get("/notices", headers=cookie_of(stack, staff))
        assert "職員向け連絡" in page.text and "利用者限定" in page.text

    async def test_p2_staff_of_another_network_do_not_see_it(self, stack: Stack) -> None:
        t = tenant()
        notice = await post(stack, t, audience="users", title="職員向け連絡", body="本文")
        stranger = stack.staff(tenant=tenant())
        refused = await stack["portal"].client.get(
            "/api/notices", params={"tenant": t}, headers=stranger.headers
        )
        assert refused.status_code == 404
        own = await stack["portal"].client.get("/api/notices", headers=stranger.headers)
        assert notice["id"] not in {n["id"] for n in own.json()}

    async def test_p2_public_notices_reach_everyone(self, stack: Stack) -> None:
        t = tenant()
        notice = await post(stack, t, audience="public", title="公開のお知らせ", body="本文")
        listed = await stack["portal"].client.get("/api/notices", params={"tenant": t})
        assert notice["id"] in {n["id"] for n in listed.json()}

    async def test_p2_only_the_operator_posts(self, stack: Stack) -> None:
        staff = stack.staff(tenant=tenant(), roles=("staff", "facility_admin"))
        response = await stack["portal"].client.post(
            "/api/operator/notices", json={"title": "x", "body": "y"}, headers=staff.headers
        )
        assert_problem(response, 403, "forbidden")

    async def test_p2_bad_input_is_a_problem(self, stack: Stack) -> None:
        operator = stack.staff(tenant=tenant(), roles=("operator",))
        response = await stack["portal"].client.post(
            "/api/operator/notices",
            json={"title": "", "body": "y", "audience": "all"},
            headers=operator.headers,
        )
        assert_problem(response, 422, "validation-error")


class TestDeletion:
    async def test_p2_the_operator_deletes_a_notice_at_any_time(self, stack: Stack) -> None:
        t = tenant()
        notice = await post(stack, t, audience="users", title="消すお知らせ", body="本文")
        operator = stack.staff(tenant=t, roles=("operator",))
        client = stack["portal"].client
        deleted = await client.delete(f"/api/operator/notices/{notice['id']}", headers=operator.headers)
        assert deleted.status_code == 204
        listed = await client.get("/api/notices", headers=stack.staff(tenant=t).headers)
        assert notice["id"] not in {n["id"] for n in listed.json()}
        again = await client.delete(f"/api/operator/notices/{notice['id']}", headers=operator.headers)
        assert_problem(again, 404, "not-found")
        actions = await audit_actions(stack, "portal", t)
        assert ("notice.posted", f"notice:{notice['id']}") in actions
        assert ("notice.deleted", f"notice:{notice['id']}") in actions

    async def test_p2_another_networks_operator_cannot_delete(self, stack: Stack) -> None:
        t = tenant()
        notice = await post(stack, t, title="お知らせ", body="本文")
        other = stack.staff(tenant=tenant(), roles=("operator",))
        response = await stack["portal"].client.delete(
            f"/api/operator/notices/{notice['id']}", headers=other.headers
        )
        assert_problem(response, 404, "not-found")
