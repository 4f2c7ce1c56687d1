"""n1: the operator's notices and the maintenance switch, posted on the portal, reach every user."""

from __future__ import annotations

from uuid import uuid4

from yui_common.events.identity import UserCreatedV1, UserSuspendedV1

from services.notify.tests.notify_support import deliver_and_wait, envelope, inbox
from tests.support.stack import Stack, Staff, eventually


async def known_to_notify(stack: Stack, *people: Staff) -> None:
    for person in people:
        await deliver_and_wait(
            stack,
            envelope(
                UserCreatedV1(
                    user_id=person.user_id, facility_id=person.facility_id, roles=list(person.roles)
                ),
                tenant=person.tenant,
            ),
        )


async def items_of(stack: Stack, person: Staff, kind: str) -> list[dict]:
    return [n for n in (await inbox(stack, person))["items"] if n["kind"] == kind]


class TestPortalNotices:
    async def test_n1_an_operators_notice_reaches_every_active_user_of_the_network_only(
        self, stack: Stack
    ) -> None:
        tenant = f"ntf-{uuid4().hex[:8]}"
        operator = stack.staff(tenant=tenant, roles=("operator",))
        nurse, doctor, suspended = (stack.staff(tenant=tenant) for _ in range(3))
        elsewhere = stack.staff(tenant=f"ntf-{uuid4().hex[:8]}")
        await known_to_notify(stack, operator, nurse, doctor, suspended, elsewhere)
        await deliver_and_wait(
            stack, envelope(UserSuspendedV1(user_id=suspended.user_id, reason="退職"), tenant=tenant)
        )

        posted = await stack["portal"].client.post(
            "/api/operator/notices",
            json={"audience": "users", "title": "研修会のお知らせ", "body": "12月5日 14時から"},
            headers=operator.headers,
        )
        assert posted.status_code == 201, posted.text

        async def everyone_told() -> bool:
            return all([await items_of(stack, person, "notice.published") for person in (nurse, doctor)])

        await eventually(everyone_told, what="the network's users to be told of the notice")
        [told] = await items_of(stack, nurse, "notice.published")
        assert told["params"]["title"] == "研修会のお知らせ"
        assert told["params"]["notice_id"] == posted.json()["id"]
        assert "12月5日" not in str(told)  # the body stays on the portal
        assert await items_of(stack, elsewhere, "notice.published") == []
        assert await items_of(stack, suspended, "notice.published") == []

    async def test_n1_switching_maintenance_on_and_off_tells_the_networks_users(self, stack: Stack) -> None:
        tenant = f"ntf-{uuid4().hex[:8]}"
        operator = stack.staff(tenant=tenant, roles=("operator",))
        nurse = stack.staff(tenant=tenant)
        await known_to_notify(stack, operator, nurse)
        client = stack["portal"].client
        for active in (True, False):
            switched = await client.post(
                "/api/operator/maintenance",
                json={"active": active, "reason": "サーバー更新"},
                headers=operator.headers,
            )
            assert switched.status_code == 200, switched.text

        async def both_told() -> bool:
            kinds = {n["kind"] for n in (await inbox(stack, nurse))["items"]}
            return {"maintenance.started", "maintenance.ended"} <= kinds

        await eventually(both_told, what="the maintenance switch to reach the nurse")

    async def test_n1_a_new_version_of_the_terms_is_announced_in_the_app(self, stack: Stack) -> None:
        from datetime import UTC, datetime, timedelta

        tenant = f"ntf-{uuid4().hex[:8]}"
        operator = stack.staff(tenant=tenant, roles=("operator",))
        nurse = stack.staff(tenant=tenant)
        await known_to_notify(stack, operator, nurse)
        published = await stack["portal"].client.post(
            "/api/operator/terms",
            json={
                "version": "2.0",
                "title": "利用規約 第2.0版",
                "body": "第1条 目的",
                "summary_of_changes": "第1条を改めました。",
                "effective_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            },
            headers=operator.headers,
        )
        assert published.status_code == 201, published.text

        async def told() -> list[dict]:
            return await items_of(stack, nurse, "notice.published")

        [notice] = await eventually(told, what="the terms change to reach the nurse")
        assert notice["params"]["notice_kind"] == "terms_change"
        assert notice["params"]["title"] == "利用規約 第2.0版"
