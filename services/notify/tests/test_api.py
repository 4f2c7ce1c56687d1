"""Notify's HTTP API: each user sees and marks only their own notifications."""

from __future__ import annotations

from uuid import UUID, uuid4

import httpx
from notify import repository, service
from uuid6 import uuid7

from tests.support.stack import Stack, Staff


def assert_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}" and body["status"] == status and body["title"]


async def notify_team_of(stack: Stack, *members: Staff, tenant: str = "demo") -> UUID:
    """A subject whose care team (as notify's projection knows it) is told something."""
    subject_id = uuid7()
    async with stack["notify"].sessionmaker() as session, session.begin():
        for member in members:
            await repository.add_member(session, tenant=tenant, subject_id=subject_id, user_id=member.user_id)
        await service.notify_team(
            session,
            tenant=tenant,
            subject_id=subject_id,
            kind="subject.support_stopped",
            source_event_id=uuid7(),
        )
    return subject_id


async def inbox(stack: Stack, staff: Staff) -> dict:
    response = await stack["notify"].client.get("/notifications", headers=staff.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


class TestInbox:
    async def test_inbox_only_shows_my_notifications(self, stack: Stack) -> None:
        me, colleague, stranger = stack.staff(), stack.staff(), stack.staff()
        shared = await notify_team_of(stack, me, colleague)
        colleagues_only = await notify_team_of(stack, colleague)

        mine = await inbox(stack, me)
        assert [n["subject_id"] for n in mine["items"]] == [str(shared)]
        assert mine["unread"] == 1
        theirs = await inbox(stack, colleague)
        assert {n["subject_id"] for n in theirs["items"]} == {str(shared), str(colleagues_only)}
        assert await inbox(stack, stranger) == {"unread": 0, "items": []}

    async def test_my_id_in_another_network_sees_nothing_of_mine(self, stack: Stack) -> None:
        me = stack.staff()
        await notify_team_of(stack, me)
        elsewhere = stack.staff(tenant="other-network", user_id=me.user_id)
        assert await inbox(stack, elsewhere) == {"unread": 0, "items": []}

    async def test_newest_first_and_limited(self, stack: Stack) -> None:
        me = stack.staff()
        subjects = [await notify_team_of(stack, me) for _ in range(3)]
        response = await stack["notify"].client.get("/notifications", params={"limit": 2}, headers=me.headers)
        body = response.json()
        assert [n["subject_id"] for n in body["items"]] == [str(s) for s in reversed(subjects)][:2]
        assert body["unread"] == 3


class TestMarkRead:
    async def test_mark_read_sets_read_at_and_lowers_the_unread_count_once(self, stack: Stack) -> None:
        me = stack.staff()
        await notify_team_of(stack, me)
        await notify_team_of(stack, me)
        [newest, older] = (await inbox(stack, me))["items"]

        marked = await stack["notify"].client.post(f"/notifications/{newest['id']}/read", headers=me.headers)
        assert marked.status_code == 204 and marked.content == b""
        after = await inbox(stack, me)
        assert after["unread"] == 1
        read_at = {n["id"]: n["read_at"] for n in after["items"]}
        assert read_at[newest["id"]] is not None and read_at[older["id"]] is None

        again = await stack["notify"].client.post(f"/notifications/{newest['id']}/read", headers=me.headers)
        assert again.status_code == 204
        assert {
            n["id"]: n["read_at"] for n in (await inbox(stack, me))["items"]
        } == read_at  # first read kept

    async def test_marking_someone_elses_notification_is_404_and_changes_nothing(self, stack: Stack) -> None:
        me, colleague = stack.staff(), stack.staff()
        await notify_team_of(stack, colleague)
        [theirs] = (await inbox(stack, colleague))["items"]
        for intruder in (me, stack.staff(tenant="other-network", user_id=colleague.user_id)):
            refused = await stack["notify"].client.post(
                f"/notifications/{theirs['id']}/read", headers=intruder.headers
            )
            assert_problem(refused, 404, "not-found")
        assert (await inbox(stack, colleague))["unread"] == 1

    async def test_marking_an_unknown_notification_is_404(self, stack: Stack) -> None:
        refused = await stack["notify"].client.post(
            f"/notifications/{uuid4()}/read", headers=stack.staff().headers
        )
        assert_problem(refused, 404, "not-found")
