"""The audit-entries API (yui_common.audit_api) in consent, and the contract all services run (S2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
from yui_common import audit

from tests.support.stack import Stack

OTHER_NETWORK = "audit-other-network"


def assert_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}" and body["status"] == status


async def seed_entry(stack: Stack, service: str, *, tenant: str = "demo", **fields: Any) -> str:
    """Append one entry to the service's chain as its own use cases would (same function, own transaction)."""
    async with stack[service].sessionmaker() as session, session.begin():
        return await audit.record(
            session,
            tenant=tenant,
            actor_id=fields.pop("actor_id", str(uuid4())),
            action=fields.pop("action", "subject.read"),
            **fields,
        )


class AuditEntriesContract:
    """What `GET /audit-entries` promises in every service; each service's test module names its service."""

    service = "consent"

    def client(self, stack: Stack) -> httpx.AsyncClient:
        return stack[self.service].client

    async def test_s2_operator_finds_entries_by_subject_user_facility_and_action(self, stack: Stack) -> None:
        operator = stack.staff(roles=("operator",))
        subject, user, facility = str(uuid4()), str(uuid4()), str(uuid4())
        by_user = await seed_entry(
            stack, self.service, actor_id=user, facility_id=facility, action="consent.read"
        )
        on_subject = await seed_entry(stack, self.service, subject_id=subject, action="consent.give")
        both = await seed_entry(
            stack, self.service, actor_id=user, subject_id=subject, facility_id=facility, action="post.read"
        )

        async def ids(**params: str) -> list[str]:
            response = await self.client(stack).get("/audit-entries", params=params, headers=operator.headers)
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["service"] == self.service
            return [entry["id"] for entry in page["entries"]]

        assert await ids(subject_id=subject) == [both, on_subject]
        assert await ids(user_id=user) == [both, by_user]
        assert await ids(facility_id=facility) == [both, by_user]
        assert await ids(user_id=user, subject_id=subject) == [both]
        assert await ids(subject_id=subject, action="consent.give") == [on_subject]
        assert await ids(user_id=user, action="consent.*") == [by_user]
        assert await ids(subject_id=str(uuid4())) == []

    async def test_s2_operator_narrows_by_time(self, stack: Stack) -> None:
        operator = stack.staff(roles=("operator",))
        subject = str(uuid4())
        older = await seed_entry(stack, self.service, subject_id=subject)
        between = datetime.now(UTC)
        newer = await seed_entry(stack, self.service, subject_id=subject)

        async def ids(**params: str) -> list[str]:
            response = await self.client(stack).get(
                "/audit-entries", params={"subject_id": subject, **params}, headers=operator.headers
            )
            assert response.status_code == 200, response.text
            return [entry["id"] for entry in response.json()["entries"]]

        assert await ids(since=between.isoformat()) == [newer]
        assert await ids(until=between.isoformat()) == [older]
        assert await ids(since=(between - timedelta(days=1)).isoformat(), until=between.isoformat()) == [
            older
        ]

    async def test_s2_entries_come_newest_first_in_keyset_pages_with_their_chain_position(
        self, stack: Stack
    ) -> None:
        operator = stack.staff(roles=("operator",))
        subject = str(uuid4())
        seeded = [await seed_entry(stack, self.service, subject_id=subject) for _ in range(5)]
        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        pages = 0
        while True:
            params = {"subject_id": subject, "limit": "2", **({"cursor": cursor} if cursor else {})}
            response = await self.client(stack).get("/audit-entries", params=params, headers=operator.headers)
            assert response.status_code == 200, response.text
            page = response.json()
            seen += page["entries"]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert [entry["id"] for entry in seen] == list(reversed(seeded))
        positions = [entry["position"] for entry in seen]
        assert positions == sorted(positions, reverse=True)
        for entry in seen:
            assert (
                len(entry["hash"]) == 64 and entry["prev_hash"] is None
            )  # sealed in batches, no per-entry link
            assert entry["tenant"] == "demo" and entry["subject_id"] == subject

    async def test_s2_another_networks_entries_are_never_returned(self, stack: Stack) -> None:
        subject = str(uuid4())
        ours = await seed_entry(stack, self.service, subject_id=subject)
        theirs = await seed_entry(stack, self.service, tenant=OTHER_NETWORK, subject_id=subject)
        for tenant, expected in (("demo", ours), (OTHER_NETWORK, theirs)):
            operator = stack.staff(tenant=tenant, roles=("operator",))
            response = await self.client(stack).get(
                "/audit-entries", params={"subject_id": subject}, headers=operator.headers
            )
            assert response.status_code == 200, response.text
            assert [entry["id"] for entry in response.json()["entries"]] == [expected]

    async def test_s2_only_the_networks_operator_may_read_the_log(self, stack: Stack) -> None:
        for roles in (("staff",), ("facility_admin",), ("contractor",)):
            someone = stack.staff(roles=roles)
            for path in ("/audit-entries", "/audit-entries/verification"):
                assert_problem(await self.client(stack).get(path, headers=someone.headers), 403, "forbidden")
        assert_problem(await self.client(stack).get("/audit-entries"), 401, "unauthenticated")

    async def test_s2_reading_the_log_is_itself_audited(self, stack: Stack) -> None:
        operator = stack.staff(roles=("operator",))
        subject = str(uuid4())
        response = await self.client(stack).get(
            "/audit-entries", params={"subject_id": subject, "action": "consent.*"}, headers=operator.headers
        )
        assert response.status_code == 200, response.text
        again = await self.client(stack).get(
            "/audit-entries", params={"user_id": str(operator.user_id)}, headers=operator.headers
        )
        [search] = again.json()["entries"]
        assert search["action"] == "audit.search" and search["subject_id"] == subject
        assert search["facility_id"] == str(operator.facility_id)
        assert search["detail"] == {
            "subject_id": subject,
            "action": "consent.*",
            "results": 0,
            "page": "first",
        }

    async def test_s2_bad_filters_are_answered_with_problems(self, stack: Stack) -> None:
        operator = stack.staff(roles=("operator",))
        now = datetime.now(UTC)
        for params in (
            {"since": "2026-01-01T00:00:00"},  # no offset: which zone the operator meant is unknown
            {"until": "yesterday"},
            {"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()},
            {"cursor": "not-a-cursor"},
            {"limit": "0"},
            {"limit": "501"},
            {"subject_id": "x" * 201},
        ):
            response = await self.client(stack).get("/audit-entries", params=params, headers=operator.headers)
            assert_problem(response, 422, "validation-error")

    async def test_s2_the_operator_sees_whether_the_chain_verifies(self, stack: Stack) -> None:
        operator = stack.staff(roles=("operator",))
        await seed_entry(stack, self.service, subject_id=str(uuid4()))
        response = await self.client(stack).get("/audit-entries/verification", headers=operator.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["service"] == self.service and body["verified"] is True and body["breaks"] == []
        assert body["entries_checked"] >= 1


class TestConsentAuditEntries(AuditEntriesContract):
    service = "consent"

    async def test_s2_a_real_consent_read_is_found_by_subject(self, stack: Stack) -> None:
        staff = stack.staff()
        operator = stack.staff(roles=("operator",))
        created = await stack["consent"].client.post(
            "/subjects",
            json={
                "name": "結 監査",
                "name_kana": "ユイ カンサ",
                "municipality_code": "232360",
                "confirm_not_duplicate": True,
            },
            headers=staff.headers,
        )
        assert created.status_code == 201, created.text
        subject = created.json()["id"]
        assert (
            await stack["consent"].client.get(f"/subjects/{subject}", headers=staff.headers)
        ).status_code == 200
        response = await self.client(stack).get(
            "/audit-entries", params={"subject_id": subject}, headers=operator.headers
        )
        entries = response.json()["entries"]
        assert [e["action"] for e in entries][:2] == ["subject.read", "subject.register"]
        assert {e["actor_id"] for e in entries} == {str(staff.user_id)}
