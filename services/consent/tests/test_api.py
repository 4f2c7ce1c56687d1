"""Consent's HTTP API: need to know (C6), consent once (C2, C3), withdrawal (C4), the operator's view."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import text
from yui_common.auth import Principal

from tests.support.stack import Stack, Staff

SUBJECT = {
    "name": "結 一郎",
    "name_kana": "ユイ イチロウ",
    "birth_date": "1940-01-02",
    "municipality_code": "232360",
}


def assert_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}" and body["status"] == status and body["title"]


async def register(stack: Stack, staff: Staff) -> UUID:
    # These tests register the same person many times on purpose; duplicates have their own tests (c9).
    response = await stack["consent"].client.post(
        "/subjects", json={**SUBJECT, "confirm_not_duplicate": True}, headers=staff.headers
    )
    assert response.status_code == 201, response.text
    return UUID(response.json()["id"])


async def give(stack: Stack, staff: Staff, subject_id: UUID, **body: Any) -> httpx.Response:
    return await stack["consent"].client.post(
        f"/subjects/{subject_id}/consents",
        json={"given_on": str(date.today()), **body},
        headers=staff.headers,
    )


async def withdraw(stack: Stack, staff: Staff, subject_id: UUID) -> httpx.Response:
    return await stack["consent"].client.post(
        f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=staff.headers
    )


async def count(stack: Stack, sql: str, **params: Any) -> int:
    async with stack["consent"].sessionmaker() as session:
        return int((await session.execute(text(sql), params)).scalar_one())


def subject_endpoints(
    subject_id: UUID, consent_id: str, member_id: UUID
) -> list[tuple[str, str, dict[str, Any]]]:
    """Every endpoint that names a subject, with a request that would succeed for a team member."""
    consent = f"/subjects/{subject_id}/consents/{consent_id}"
    return [
        ("GET", f"/subjects/{subject_id}", {}),
        (
            "POST",
            f"/subjects/{subject_id}/family-contacts",
            {"json": {"name": "結 花子", "relation": "長女"}},
        ),
        ("GET", f"/subjects/{subject_id}/fhir", {}),
        ("POST", f"/subjects/{subject_id}/consents", {"json": {"given_on": str(date.today())}}),
        ("GET", f"/subjects/{subject_id}/consents", {}),
        ("PUT", f"{consent}/form", {"files": {"form": ("f.pdf", b"%PDF-1.7\n%%EOF\n", "application/pdf")}}),
        ("GET", f"{consent}/form", {}),
        ("GET", f"{consent}/form/content", {}),
        ("GET", f"/subjects/{subject_id}/care-team", {}),
        ("POST", f"/subjects/{subject_id}/care-team", {"json": {"user_id": str(uuid4())}}),
        ("DELETE", f"/subjects/{subject_id}/care-team/{member_id}", {}),
        ("POST", f"/subjects/{subject_id}/withdrawals", {"json": {"requested_by": "subject"}}),
        ("GET", f"/subjects/{subject_id}/withdrawals", {}),
    ]


class TestNeedToKnow:
    async def test_c6_outsider_gets_404_for_every_subject_endpoint_across_facilities_and_networks(
        self, stack: Stack
    ) -> None:
        doctor, nurse, invited = stack.staff(), stack.staff(), stack.staff()
        subject_id = await register(stack, doctor)
        consent = await give(stack, doctor, subject_id)
        assert consent.status_code == 201
        for member in (nurse, invited):
            invitation = await stack["consent"].client.post(
                f"/subjects/{subject_id}/care-team",
                json={"user_id": str(member.user_id)},
                headers=doctor.headers,
            )
            if member is nurse:
                accepted = await stack["consent"].client.post(
                    f"/care-team/invitations/{invitation.json()['id']}/accept", headers=nurse.headers
                )
                assert accepted.status_code == 200
        outsiders = {
            "same network, another facility": stack.staff(),
            "same network and facility, not on the team": stack.staff(facility_id=doctor.facility_id),
            "invited, not yet accepted": invited,
            "the network's operator (not on the team)": stack.staff(roles=("operator",)),
            "another network": stack.staff(tenant="other-network"),
            # The same person id signed in to another network is someone else there.
            "team member's id in another network": stack.staff(
                tenant="other-network", user_id=doctor.user_id, facility_id=doctor.facility_id
            ),
        }
        endpoints = subject_endpoints(subject_id, consent.json()["id"], nurse.user_id)
        before = await count(stack, "SELECT count(*) FROM audit_log WHERE subject_id = :s", s=str(subject_id))
        for who, outsider in outsiders.items():
            for method, path, request in endpoints:
                response = await stack["consent"].client.request(
                    method, path, headers=outsider.headers, **request
                )
                assert response.status_code == 404, f"{who}: {method} {path} -> {response.status_code}"
                assert_problem(response, 404, "not-found")
            search = await stack["consent"].client.get("/subjects", headers=outsider.headers)
            assert str(subject_id) not in {s["id"] for s in search.json()}, who
        # A 404 must be indistinguishable from a subject that does not exist.
        missing = await stack["consent"].client.get(f"/subjects/{uuid4()}", headers=doctor.headers)
        hidden = await stack["consent"].client.get(
            f"/subjects/{subject_id}", headers=outsiders["another network"].headers
        )
        assert {k: v for k, v in missing.json().items() if k != "instance"} == {
            k: v for k, v in hidden.json().items() if k != "instance"
        }
        # Nothing changed: consent still active and formless, team unchanged, no outsider audited.
        assert (
            await count(stack, "SELECT count(*) FROM care_team_members WHERE subject_id = :s", s=subject_id)
            == 2
        )
        assert (
            await count(
                stack,
                "SELECT count(*) FROM consents WHERE subject_id = :s AND status = 'active' "
                "AND form_object_key IS NULL",
                s=subject_id,
            )
            == 1
        )
        assert (
            await count(stack, "SELECT count(*) FROM audit_log WHERE subject_id = :s", s=str(subject_id))
            == before
        )
        # The matrix is not vacuous: the same reads succeed for a member of the team.
        for method, path, request in endpoints:
            if method == "GET" and not path.endswith(("/form", "/form/content")):
                response = await stack["consent"].client.request(
                    method, path, headers=nurse.headers, **request
                )
                assert response.status_code == 200, f"member: {method} {path} -> {response.text}"

    async def test_c6_invited_member_gains_access_only_on_accepting(self, stack: Stack) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        subject_id = await register(stack, doctor)
        assert (
            await stack["consent"].client.get(f"/subjects/{subject_id}", headers=nurse.headers)
        ).status_code == 404
        invited = await stack["consent"].client.post(
            f"/subjects/{subject_id}/care-team",
            json={"user_id": str(nurse.user_id), "facility_id": str(nurse.facility_id)},
            headers=doctor.headers,
        )
        assert invited.status_code == 201, invited.text
        # Invited is not yet on the team: nothing is shared before the invitee accepts.
        assert (
            await stack["consent"].client.get(f"/subjects/{subject_id}", headers=nurse.headers)
        ).status_code == 404
        accepted = await stack["consent"].client.post(
            f"/care-team/invitations/{invited.json()['id']}/accept", headers=nurse.headers
        )
        assert accepted.status_code == 200, accepted.text
        read = await stack["consent"].client.get(f"/subjects/{subject_id}", headers=nurse.headers)
        assert read.status_code == 200
        assert read.json()["consent_status"] == "none"


class TestConsent:
    async def test_c3_second_active_consent_is_409(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id = await register(stack, doctor)
        first = await give(stack, doctor, subject_id)
        assert first.status_code == 201, first.text
        assert_problem(await give(stack, doctor, subject_id), 409, "consent-already-active")
        assert await count(stack, "SELECT count(*) FROM consents WHERE subject_id = :s", s=subject_id) == 1
        read = await stack["consent"].client.get(f"/subjects/{subject_id}", headers=doctor.headers)
        assert read.json()["consent_status"] == "active"

    @pytest.mark.parametrize(
        "proxy",
        [{}, {"proxy_name": "結 花子"}, {"proxy_relation": "長女"}],
        ids=["neither", "name-only", "relation-only"],
    )
    async def test_c2_proxy_consent_requires_name_and_relation(
        self, stack: Stack, proxy: dict[str, str]
    ) -> None:
        doctor = stack.staff()
        subject_id = await register(stack, doctor)
        assert_problem(
            await give(stack, doctor, subject_id, given_by="proxy", **proxy), 422, "proxy-required"
        )
        assert await count(stack, "SELECT count(*) FROM consents WHERE subject_id = :s", s=subject_id) == 0

    async def test_proxy_consent_with_name_and_relation_is_recorded(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id = await register(stack, doctor)
        response = await give(
            stack, doctor, subject_id, given_by="proxy", proxy_name="結 花子", proxy_relation="長女"
        )
        assert response.status_code == 201, response.text
        recorded = response.json()
        assert (recorded["given_by"], recorded["proxy_name"], recorded["proxy_relation"]) == (
            "proxy",
            "結 花子",
            "長女",
        )

    async def test_consent_by_the_subject_keeps_no_proxy_details(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id = await register(stack, doctor)
        response = await give(
            stack, doctor, subject_id, given_by="subject", proxy_name="誰か", proxy_relation="隣人"
        )
        assert response.status_code == 201, response.text
        assert response.json()["proxy_name"] is None and response.json()["proxy_relation"] is None

    async def test_c4_consent_is_given_again_as_a_new_consent_never_the_old_one_revived(
        self, stack: Stack
    ) -> None:
        doctor = stack.staff()
        subject_id = await register(stack, doctor)
        first = await give(stack, doctor, subject_id)
        assert first.status_code == 201
        assert (await withdraw(stack, doctor, subject_id)).status_code == 201
        again = await give(stack, doctor, subject_id)
        assert again.status_code == 201, again.text
        assert again.json()["id"] != first.json()["id"]
        statuses = await count(
            stack,
            "SELECT count(*) FROM consents WHERE subject_id = :s AND status = 'withdrawn'",
            s=subject_id,
        )
        assert statuses == 1


class TestWithdrawal:
    @pytest.mark.parametrize("mode", ["stop", "delete"])
    async def test_c4_withdrawal_records_who_asked_and_carries_the_networks_mode(
        self, stack: Stack, mode: str
    ) -> None:
        network = f"net-{uuid4().hex[:8]}"
        async with stack["consent"].sessionmaker() as session, session.begin():
            await session.execute(
                text("INSERT INTO networks (tenant, name, withdrawal_mode) VALUES (:t, 'テスト', :m)"),
                {"t": network, "m": mode},
            )
        doctor = stack.staff(tenant=network)
        subject_id = await register(stack, doctor)
        assert (await give(stack, doctor, subject_id)).status_code == 201
        response = await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals",
            json={"requested_by": "proxy", "requester_name": "結 花子", "requester_relation": "長女"},
            headers=doctor.headers,
        )
        assert response.status_code == 201, response.text
        assert response.json()["mode"] == mode
        async with stack["consent"].sessionmaker() as session:
            recorded = (
                await session.execute(
                    text("SELECT * FROM withdrawals WHERE subject_id = :s"), {"s": subject_id}
                )
            ).one()
            event = (
                await session.execute(
                    text(
                        "SELECT envelope FROM outbox WHERE event_type = 'consent.withdrawn.v1' "
                        "AND envelope->>'subject' = :s"
                    ),
                    {"s": str(subject_id)},
                )
            ).scalar_one()
        assert (recorded.requested_by, recorded.requester_name, recorded.requester_relation) == (
            "proxy",
            "結 花子",
            "長女",
        )
        assert recorded.taken_by == doctor.user_id and recorded.requested_at is not None
        assert event["data"]["mode"] == mode and event["tenant"] == network

    async def test_withdrawal_without_active_consent_is_409(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id = await register(stack, doctor)
        assert_problem(await withdraw(stack, doctor, subject_id), 409, "no-active-consent")
        assert await count(stack, "SELECT count(*) FROM withdrawals WHERE subject_id = :s", s=subject_id) == 0

    async def test_second_withdrawal_of_the_same_consent_is_409(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id = await register(stack, doctor)
        assert (await give(stack, doctor, subject_id)).status_code == 201
        first = await withdraw(stack, doctor, subject_id)
        assert first.status_code == 201, first.text
        assert {s["service"] for s in first.json()["steps"]} == {"timeline", "notify", "federation"}
        assert_problem(await withdraw(stack, doctor, subject_id), 409, "no-active-consent")
        assert await count(stack, "SELECT count(*) FROM withdrawals WHERE subject_id = :s", s=subject_id) == 1
        assert (
            await count(
                stack,
                "SELECT count(*) FROM outbox WHERE event_type = 'consent.withdrawn.v1' "
                "AND envelope->>'subject' = :s",
                s=str(subject_id),
            )
            == 1
        )


async def withdrawal_nobody_answers(stack: Stack, staff: Staff) -> UUID:
    """A withdrawal one participant (an offline federated peer) never reports on: it stays incomplete."""
    from services.consent.tests.consent_support import withdraw_consent

    subject_id = await register(stack, staff)
    assert (await give(stack, staff, subject_id)).status_code == 201
    principal = Principal(user_id=staff.user_id, tenant=staff.tenant, facility_id=staff.facility_id)
    async with stack["consent"].sessionmaker() as session, session.begin():
        withdrawal = await withdraw_consent(
            session, principal, subject_id, participants=("timeline", "notify", "offline-peer")
        )
    return withdrawal.id


class TestOperatorsView:
    async def test_c4_operators_see_incomplete_cascades_staff_get_403(self, stack: Stack) -> None:
        network = f"net-{uuid4().hex[:8]}"
        doctor = stack.staff(tenant=network)
        withdrawal_id = await withdrawal_nobody_answers(stack, doctor)

        for role in ("operator", "contractor"):
            response = await stack["consent"].client.get(
                "/cascades/incomplete", headers=stack.staff(tenant=network, roles=(role,)).headers
            )
            assert response.status_code == 200, response.text
            listed = {w["id"]: w for w in response.json()}
            assert str(withdrawal_id) in listed
            assert listed[str(withdrawal_id)]["complete"] is False
            steps = {s["service"]: s["status"] for s in listed[str(withdrawal_id)]["steps"]}
            assert steps["offline-peer"] == "pending"

        other_operator = stack.staff(tenant=f"net-{uuid4().hex[:8]}", roles=("operator",))
        elsewhere = await stack["consent"].client.get("/cascades/incomplete", headers=other_operator.headers)
        assert elsewhere.status_code == 200 and str(withdrawal_id) not in {w["id"] for w in elsewhere.json()}

        for roles in (("staff",), ("staff", "facility_admin")):
            forbidden = await stack["consent"].client.get(
                "/cascades/incomplete", headers=stack.staff(tenant=network, roles=roles).headers
            )
            assert_problem(forbidden, 403, "forbidden")


class TestOneTransactionPerRequest:
    async def test_created_subject_is_committed_before_the_response_is_sent(self, stack: Stack) -> None:
        """A client that has its 201 can rely on the write: the commit happens before the answer leaves."""
        import json

        staff = stack.staff()
        app = stack["consent"].app
        visible_when_answered: list[int] = []
        body = json.dumps({**SUBJECT, "confirm_not_duplicate": True}).encode()
        received = False

        async def receive() -> dict[str, Any]:
            nonlocal received
            if received:
                return {"type": "http.disconnect"}
            received = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                # Another connection, as the client's next request would use.
                visible_when_answered.append(
                    await count(
                        stack, "SELECT count(*) FROM subjects WHERE registered_by = :u", u=staff.user_id
                    )
                )

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/subjects",
            "raw_path": b"/subjects",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"consent.test"),
                (b"content-type", b"application/json"),
                (b"authorization", f"Bearer {staff.token}".encode()),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("consent.test", 80),
            "state": {},
        }
        await app(scope, receive, send)
        assert visible_when_answered == [1]
