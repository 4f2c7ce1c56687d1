"""Timeline's HTTP API: consent first (C2), need to know (C6), support stopped (C4), keyset pages."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from tests.support.stack import Stack, Staff, eventually


def assert_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}" and body["status"] == status and body["title"]


async def subject_with_team(stack: Stack, author: Staff, *members: Staff, consent: bool = True) -> UUID:
    client = stack["consent"].client
    created = await client.post(
        "/subjects",
        json={"name": "結 一郎", "name_kana": "ユイ イチロウ", "municipality_code": "232360"},
        headers=author.headers,
    )
    assert created.status_code == 201, created.text
    subject_id = UUID(created.json()["id"])
    for member in members:
        added = await client.post(
            f"/subjects/{subject_id}/care-team", json={"user_id": str(member.user_id)}, headers=author.headers
        )
        assert added.status_code == 201, added.text
        # Invited members join (and see the subject) only by accepting.
        accepted = await client.post(
            f"/care-team/invitations/{added.json()['id']}/accept", headers=member.headers
        )
        assert accepted.status_code == 200, accepted.text
    if consent:
        given = await client.post(
            f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=author.headers
        )
        assert given.status_code == 201, given.text
    return subject_id


async def post(stack: Stack, staff: Staff, subject_id: UUID, body: str) -> httpx.Response:
    return await stack["timeline"].client.post(
        f"/subjects/{subject_id}/posts", json={"category": "visit", "body": body}, headers=staff.headers
    )


async def post_when_allowed(stack: Stack, staff: Staff, subject_id: UUID, body: str) -> dict[str, Any]:
    async def attempt() -> dict[str, Any] | None:
        response = await post(stack, staff, subject_id, body)
        return response.json() if response.status_code == 201 else None

    return await eventually(attempt, what="timeline to learn of the consent and team")  # type: ignore[no-any-return]


class TestConsentFirst:
    async def test_posts_are_refused_with_409_before_consent(self, stack: Stack) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, doctor, nurse, consent=False)

        async def refused_for_consent() -> httpx.Response | None:
            response = await post(stack, nurse, subject_id, "同意前の記録")
            return response if response.status_code == 409 else None

        # Before timeline hears of the team it answers 404 (need to know); then 409 until consent.
        response = await eventually(refused_for_consent, what="timeline to learn of the care team")
        assert_problem(response, 409, "consent-required")

        given = await stack["consent"].client.post(
            f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=doctor.headers
        )
        assert given.status_code == 201
        created = await post_when_allowed(stack, nurse, subject_id, "同意後の記録")
        listed = await stack["timeline"].client.get(f"/subjects/{subject_id}/posts", headers=nurse.headers)
        assert [p["id"] for p in listed.json()["items"]] == [created["id"]]


class TestNeedToKnow:
    async def test_non_member_gets_404_for_reading_and_posting(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id = await subject_with_team(stack, doctor)
        await post_when_allowed(stack, doctor, subject_id, "記録")
        outsiders = [
            stack.staff(),
            stack.staff(facility_id=doctor.facility_id),
            stack.staff(tenant="other-network", user_id=doctor.user_id, facility_id=doctor.facility_id),
        ]
        for outsider in outsiders:
            assert_problem(await post(stack, outsider, subject_id, "覗き見"), 404, "not-found")
            listed = await stack["timeline"].client.get(
                f"/subjects/{subject_id}/posts", headers=outsider.headers
            )
            assert_problem(listed, 404, "not-found")
        unknown = await stack["timeline"].client.get(f"/subjects/{uuid4()}/posts", headers=doctor.headers)
        assert_problem(unknown, 404, "not-found")
        mine = await stack["timeline"].client.get(f"/subjects/{subject_id}/posts", headers=doctor.headers)
        assert len(mine.json()["items"]) == 1  # the outsiders' attempts wrote nothing


class TestSupportStopped:
    async def test_withdrawn_subject_posts_are_read_only_and_hidden(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id = await subject_with_team(stack, doctor)
        await post_when_allowed(stack, doctor, subject_id, "記録")
        withdrawn = await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
        )
        assert withdrawn.status_code == 201

        async def stopped() -> httpx.Response | None:
            response = await stack["timeline"].client.get(
                f"/subjects/{subject_id}/posts", headers=doctor.headers
            )
            return response if response.status_code == 410 else None

        assert_problem(
            await eventually(stopped, what="the withdrawal to reach timeline"), 410, "support-stopped"
        )
        assert_problem(await post(stack, doctor, subject_id, "追記"), 410, "support-stopped")


class TestKeysetPages:
    async def test_pages_run_newest_first_and_a_cursor_is_stable_under_new_posts(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        first = await post_when_allowed(stack, nurse, subject_id, "記録 0")
        ids = [first["id"]]
        for n in range(1, 5):
            response = await post(stack, nurse, subject_id, f"記録 {n}")
            assert response.status_code == 201
            ids.append(response.json()["id"])
        newest_first = list(reversed(ids))
        client = stack["timeline"].client
        url = f"/subjects/{subject_id}/posts"

        page1 = (await client.get(url, params={"limit": 2}, headers=nurse.headers)).json()
        assert [p["id"] for p in page1["items"]] == newest_first[:2]
        assert page1["next_cursor"]

        # A post arriving while someone pages does not shift or repeat what the cursor points at.
        assert (await post(stack, nurse, subject_id, "新しい記録")).status_code == 201

        page2 = (
            await client.get(url, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=nurse.headers)
        ).json()
        assert [p["id"] for p in page2["items"]] == newest_first[2:4]
        again = (
            await client.get(url, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=nurse.headers)
        ).json()
        assert again == page2

        page3 = (
            await client.get(url, params={"limit": 2, "cursor": page2["next_cursor"]}, headers=nurse.headers)
        ).json()
        assert [p["id"] for p in page3["items"]] == newest_first[4:]
        assert page3["next_cursor"] is None

        timestamps = [p["created_at"] for p in page1["items"] + page2["items"] + page3["items"]]
        assert timestamps == sorted(timestamps, reverse=True)

    @pytest.mark.parametrize(
        "cursor",
        [
            "not base64!",
            base64.urlsafe_b64encode(b"no separator").decode(),
            base64.urlsafe_b64encode(b"yesterday|" + str(uuid4()).encode()).decode(),
            base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|not-a-uuid").decode(),
            base64.urlsafe_b64encode(b"\xff\xfe|\xff").decode(),
            base64.urlsafe_b64encode(b"a|b|c").decode(),
        ],
        ids=["not-base64", "no-separator", "bad-time", "bad-id", "not-utf8", "too-many-parts"],
    )
    async def test_bad_cursor_is_a_400_problem(self, stack: Stack, cursor: str) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        await post_when_allowed(stack, nurse, subject_id, "記録")
        response = await stack["timeline"].client.get(
            f"/subjects/{subject_id}/posts", params={"cursor": cursor}, headers=nurse.headers
        )
        assert_problem(response, 400, "bad-cursor")
