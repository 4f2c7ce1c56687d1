"""Exceptional access (C5): no consent, a named ground, the operator's prior permission, for a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from consent.exceptional_access import service
from sqlalchemy import text

from services.consent.tests.consent_support import registered_subject
from tests.support.stack import Stack, Staff, eventually


async def subject_without_consent(stack: Stack, staff: Staff) -> UUID:
    return await registered_subject(stack, staff, name="例外 次郎", name_kana="レイガイ ジロウ")


async def request_access(
    stack: Stack, staff: Staff, subject_id: UUID, ground: str = "abuse_or_violence"
) -> dict:
    response = await stack["consent"].client.post(
        "/exceptional-access",
        json={"subject_id": str(subject_id), "ground": ground, "reason": "地域包括から虐待の疑いの通報"},
        headers=staff.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def rows(stack: Stack, sql: str, **params: Any) -> list[Any]:
    async with stack["consent"].sessionmaker() as session:
        return list((await session.execute(text(sql), params)).all())


class TestExceptionalAccess:
    async def test_c5_approved_grant_opens_reads_every_use_audited_and_the_team_and_operator_alerted(
        self, stack: Stack
    ) -> None:
        team, outsider = stack.staff(), stack.staff()
        operator = stack.staff(roles=("operator",))
        subject_id = await subject_without_consent(stack, team)
        request = await request_access(stack, outsider, subject_id)
        assert request["status"] == "requested"
        # Before the operator decides, nothing is shared.
        assert (
            await stack["consent"].client.get(f"/subjects/{subject_id}", headers=outsider.headers)
        ).status_code == 404

        pending = await stack["consent"].client.get(
            "/exceptional-access", params={"status": "requested"}, headers=operator.headers
        )
        assert request["id"] in [r["id"] for r in pending.json()]
        self_approval = await stack["consent"].client.post(
            f"/exceptional-access/{request['id']}/approve", json={"hours": 2}, headers=outsider.headers
        )
        assert self_approval.status_code == 403
        approved = await stack["consent"].client.post(
            f"/exceptional-access/{request['id']}/approve",
            json={"hours": 2, "note": "緊急"},
            headers=operator.headers,
        )
        assert approved.status_code == 200, approved.text
        expires_at = datetime.fromisoformat(approved.json()["expires_at"])
        assert timedelta(hours=1, minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=2)

        for path in ("", "/consents", "/care-team", "/fhir"):
            response = await stack["consent"].client.get(
                f"/subjects/{subject_id}{path}", headers=outsider.headers
            )
            assert response.status_code == 200, (path, response.text)
        # Reads only: the grant never lets its holder change the subject's record.
        invite = await stack["consent"].client.post(
            f"/subjects/{subject_id}/care-team", json={"user_id": str(uuid4())}, headers=outsider.headers
        )
        assert invite.status_code == 404

        uses = await rows(
            stack,
            "SELECT detail->>'grant' FROM audit_log "
            "WHERE action = 'exceptional_access.use' AND actor_id = :a",
            a=str(outsider.user_id),
        )
        assert [u[0] for u in uses] == [request["id"]] * 4
        alerts = await rows(
            stack,
            "SELECT envelope->>'type', envelope->'data' FROM outbox WHERE envelope->>'subject' = :s "
            "AND envelope->>'type' LIKE 'consent.exceptional-access-%' ORDER BY created_at",
            s=str(subject_id),
        )
        assert [a[0] for a in alerts] == [
            "consent.exceptional-access-requested.v1",
            "consent.exceptional-access-granted.v1",
        ]
        granted = alerts[1][1]
        assert (granted["user_id"], granted["ground"], granted["approved_by"]) == (
            str(outsider.user_id),
            "abuse_or_violence",
            str(operator.user_id),
        )

    async def test_c5_a_grant_expires_by_itself_and_access_ends(self, stack: Stack) -> None:
        team, outsider = stack.staff(), stack.staff()
        operator = stack.staff(roles=("operator",))
        subject_id = await subject_without_consent(stack, team)
        request = await request_access(stack, outsider, subject_id, ground="disaster")
        approved = await stack["consent"].client.post(
            f"/exceptional-access/{request['id']}/approve", json={"hours": 1}, headers=operator.headers
        )
        assert approved.status_code == 200
        assert (
            await stack["consent"].client.get(f"/subjects/{subject_id}", headers=outsider.headers)
        ).status_code == 200
        # The hour passes (moved back rather than waited for); the worker's periodic job ends the grant.
        async with stack["consent"].sessionmaker() as session, session.begin():
            await session.execute(
                text("UPDATE exceptional_access SET expires_at = now() - interval '1 second' WHERE id = :g"),
                {"g": UUID(request["id"])},
            )

        async def expired() -> bool:
            [(status,)] = await rows(
                stack, "SELECT status FROM exceptional_access WHERE id = :g", g=UUID(request["id"])
            )
            return bool(status == "expired")

        await eventually(expired, what="the worker to expire the grant")
        assert (
            await stack["consent"].client.get(f"/subjects/{subject_id}", headers=outsider.headers)
        ).status_code == 404
        ended = await rows(
            stack,
            "SELECT envelope->'data' FROM outbox "
            "WHERE envelope->>'type' = 'consent.exceptional-access-ended.v1' AND envelope->>'subject' = :s",
            s=str(subject_id),
        )
        assert [(e[0]["grant_id"], e[0]["reason"]) for e in ended] == [(request["id"], "expired")]
        assert await rows(
            stack,
            "SELECT 1 FROM audit_log WHERE action = 'exceptional_access.expire' AND target = :g",
            g=request["id"],
        )
        # Running the job again is harmless: nothing is due twice.
        async with stack["consent"].sessionmaker() as session, session.begin():
            assert await service.expire_due_grants(session) == 0

    async def test_c5_a_rejected_request_shares_nothing(self, stack: Stack) -> None:
        team, outsider = stack.staff(), stack.staff()
        operator = stack.staff(roles=("operator",))
        subject_id = await subject_without_consent(stack, team)
        request = await request_access(stack, outsider, subject_id, ground="lost_capacity_no_family")
        rejected = await stack["consent"].client.post(
            f"/exceptional-access/{request['id']}/reject",
            json={"note": "家族と連絡が取れた"},
            headers=operator.headers,
        )
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        assert (
            await stack["consent"].client.get(f"/subjects/{subject_id}", headers=outsider.headers)
        ).status_code == 404
        late_approval = await stack["consent"].client.post(
            f"/exceptional-access/{request['id']}/approve", json={}, headers=operator.headers
        )
        assert late_approval.status_code == 409

    async def test_c5_requests_reveal_nothing_about_whether_a_subject_exists(self, stack: Stack) -> None:
        team, outsider = stack.staff(), stack.staff()
        operator = stack.staff(roles=("operator",))
        real = await request_access(stack, outsider, await subject_without_consent(stack, team))
        invented = await request_access(stack, outsider, uuid4())
        assert real.keys() == invented.keys() and real["status"] == invented["status"] == "requested"
        # The operator, who may know, cannot grant access to nobody.
        approve = await stack["consent"].client.post(
            f"/exceptional-access/{invented['id']}/approve", json={}, headers=operator.headers
        )
        assert approve.status_code == 409 and approve.json()["type"] == "urn:yui:problem:unknown-subject"
        other_operator = stack.staff(tenant="other-network", roles=("operator",))
        elsewhere = await stack["consent"].client.post(
            f"/exceptional-access/{real['id']}/approve", json={}, headers=other_operator.headers
        )
        assert elsewhere.status_code == 404

    async def test_c5_a_ground_outside_the_list_is_refused(self, stack: Stack) -> None:
        response = await stack["consent"].client.post(
            "/exceptional-access",
            json={"subject_id": str(uuid4()), "ground": "curiosity", "reason": "見たい"},
            headers=stack.staff().headers,
        )
        assert response.status_code == 422
