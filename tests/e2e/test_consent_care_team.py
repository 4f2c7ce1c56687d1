"""Care-team changes and the network's withdrawal mode, as timeline and notify see them (C4, C6)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from uuid import UUID, uuid4

from sqlalchemy import text

from tests.support.stack import Stack, Staff, eventually


async def subject_with_consent(stack: Stack, doctor: Staff) -> UUID:
    consent = stack["consent"].client
    created = await consent.post(
        "/subjects",
        json={"name": "結 五郎", "name_kana": "ユイ ゴロウ", "municipality_code": "232360"},
        headers=doctor.headers,
    )
    assert created.status_code == 201, created.text
    subject_id = UUID(created.json()["id"])
    given = await consent.post(
        f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=doctor.headers
    )
    assert given.status_code == 201, given.text
    return subject_id


async def timeline_status(stack: Stack, staff: Staff, subject_id: UUID) -> int:
    response = await stack["timeline"].client.get(f"/subjects/{subject_id}/posts", headers=staff.headers)
    return response.status_code


def status_becomes(
    stack: Stack, staff: Staff, subject_id: UUID, expected: int
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await timeline_status(stack, staff, subject_id) == expected

    return check


class TestCareTeamAcrossServices:
    async def test_c6_timeline_opens_on_acceptance_and_closes_when_the_member_is_removed(
        self, stack: Stack
    ) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        subject_id = await subject_with_consent(stack, doctor)
        await eventually(status_becomes(stack, doctor, subject_id, 200), what="timeline to learn of the team")
        invited = await stack["consent"].client.post(
            f"/subjects/{subject_id}/care-team", json={"user_id": str(nurse.user_id)}, headers=doctor.headers
        )
        assert invited.status_code == 201, invited.text
        accepted = await stack["consent"].client.post(
            f"/care-team/invitations/{invited.json()['id']}/accept", headers=nurse.headers
        )
        assert accepted.status_code == 200, accepted.text
        await eventually(status_becomes(stack, nurse, subject_id, 200), what="access on acceptance")

        removed = await stack["consent"].client.delete(
            f"/subjects/{subject_id}/care-team/{nurse.user_id}", headers=doctor.headers
        )
        assert removed.status_code == 204, removed.text
        await eventually(status_becomes(stack, nurse, subject_id, 404), what="access to end")
        assert await timeline_status(stack, doctor, subject_id) == 200


class TestNetworkWithdrawalMode:
    async def test_c4_a_delete_network_withdrawal_completes_in_every_service_with_times(
        self, stack: Stack
    ) -> None:
        network = f"net-{uuid4().hex[:8]}"
        async with stack["consent"].sessionmaker() as session, session.begin():
            await session.execute(
                text("INSERT INTO networks (tenant, name, withdrawal_mode) VALUES (:t, 'テスト', 'delete')"),
                {"t": network},
            )
        doctor = stack.staff(tenant=network)
        subject_id = await subject_with_consent(stack, doctor)
        withdrawn = await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
        )
        assert withdrawn.status_code == 201 and withdrawn.json()["mode"] == "delete"

        async def complete() -> dict | None:
            listed = await stack["consent"].client.get(
                f"/subjects/{subject_id}/withdrawals", headers=doctor.headers
            )
            latest = listed.json()[0]
            return latest if latest["complete"] else None

        latest = await eventually(complete, what="the delete cascade to complete")
        assert {s["service"] for s in latest["steps"]} == {"timeline", "notify", "federation"}
        assert all(s["started_at"] <= s["completed_at"] for s in latest["steps"])
