"""n4: preferences per user (which kinds, in-app or e-mail, digest hour) over the network's defaults."""

from __future__ import annotations

from uuid6 import uuid7
from yui_common.events.timeline import PostCreatedV1

from services.notify.tests.notify_support import deliver_and_wait, envelope, kinds_of, team
from tests.support.stack import Stack


def assert_problem(response, status: int, slug: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == f"urn:yui:problem:{slug}"


class TestPreferences:
    async def test_n4_users_inherit_the_network_defaults_and_may_override_them(self, stack: Stack) -> None:
        tenant = f"net-{uuid7().hex[:8]}"
        operator = stack.staff(tenant=tenant, roles=("operator",))
        author, inheriting, overriding = (stack.staff(tenant=tenant) for _ in range(3))
        client = stack["notify"].client

        initial = (await client.get("/notifications/preferences", headers=inheriting.headers)).json()
        assert initial["channels"]["post.created"] == "in_app" and initial["digest_hour"] == 8
        assert initial["email"] is None

        refused = await client.put(
            "/notifications/network-defaults",
            json={"channels": {"post.created": "off"}},
            headers=author.headers,
        )
        assert_problem(refused, 403, "forbidden")
        network = await client.put(
            "/notifications/network-defaults",
            json={"channels": {"post.created": "off"}, "digest_hour": 7},
            headers=operator.headers,
        )
        assert network.status_code == 200, network.text
        mine = await client.put(
            "/notifications/preferences",
            json={"channels": {"post.created": "in_app"}, "email": "me@example.jp", "digest_hour": 18},
            headers=overriding.headers,
        )
        assert mine.status_code == 200, mine.text
        assert mine.json()["channels"]["post.created"] == "in_app" and mine.json()["digest_hour"] == 18
        inherited = (await client.get("/notifications/preferences", headers=inheriting.headers)).json()
        assert inherited["channels"]["post.created"] == "off" and inherited["digest_hour"] == 7

        subject_id = await team(stack, author, inheriting, overriding, tenant=tenant)
        await deliver_and_wait(
            stack,
            envelope(
                PostCreatedV1(subject_id=subject_id, post_id=uuid7(), author_id=author.user_id),
                tenant=tenant,
                subject=subject_id,
            ),
        )
        assert await kinds_of(stack, inheriting) == []
        assert await kinds_of(stack, overriding) == ["post.created"]

    async def test_n4_unknown_kinds_channels_and_bad_addresses_are_problems(self, stack: Stack) -> None:
        me, client = stack.staff(), stack["notify"].client
        for body in (
            {"channels": {"no.such.kind": "email"}},
            {"channels": {"post.created": "fax"}},
            {"email": "not an address"},
            {"digest_hour": 24},
        ):
            response = await client.put("/notifications/preferences", json=body, headers=me.headers)
            assert response.status_code == 422, body
            assert response.headers["content-type"].startswith("application/problem+json")
        unchanged = (await client.get("/notifications/preferences", headers=me.headers)).json()
        assert unchanged["email"] is None and unchanged["channels"]["post.created"] == "in_app"
