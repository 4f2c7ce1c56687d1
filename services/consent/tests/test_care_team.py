"""Care teams (C6): invitation and acceptance, decline, leave and remove, each announced as an event."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import text

from services.consent.tests.consent_support import registered_subject
from tests.support.stack import Stack, Staff


async def new_subject(stack: Stack, staff: Staff) -> UUID:
    return await registered_subject(stack, staff, name="班 太郎", name_kana="チーム タロウ")


async def events_about(stack: Stack, subject_id: UUID) -> list[tuple[str, dict[str, Any]]]:
    async with stack["consent"].sessionmaker() as session:
        rows = (
            await session.execute(
                text("SELECT envelope FROM outbox WHERE envelope->>'subject' = :s ORDER BY created_at, id"),
                {"s": str(subject_id)},
            )
        ).scalars()
        return [(row["type"], row["data"]) for row in rows]


async def invite(stack: Stack, inviter: Staff, subject_id: UUID, invitee: Staff) -> str:
    invited = await stack["consent"].client.post(
        f"/subjects/{subject_id}/care-team",
        json={"user_id": str(invitee.user_id), "facility_id": str(invitee.facility_id)},
        headers=inviter.headers,
    )
    assert invited.status_code == 201, invited.text
    assert invited.json()["status"] == "pending"
    return str(invited.json()["id"])


class TestInvitation:
    async def test_c6_member_added_is_announced_only_after_the_invitee_accepts(self, stack: Stack) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        subject_id = await new_subject(stack, doctor)
        invitation_id = await invite(stack, doctor, subject_id, nurse)
        added = [
            e for e in await events_about(stack, subject_id) if e[0] == "consent.care-team-member-added.v1"
        ]
        assert [d["user_id"] for _, d in added] == [str(doctor.user_id)]
        assert ("consent.care-team-member-invited.v1") in [
            t for t, _ in await events_about(stack, subject_id)
        ]

        mine = await stack["consent"].client.get("/care-team/invitations", headers=nurse.headers)
        assert [i["id"] for i in mine.json()] == [invitation_id]
        # Nobody but the invitee can answer it, not even the inviter.
        for intruder in (doctor, stack.staff(), stack.staff(tenant="other-network", user_id=nurse.user_id)):
            response = await stack["consent"].client.post(
                f"/care-team/invitations/{invitation_id}/accept", headers=intruder.headers
            )
            assert response.status_code == 404, response.text

        accepted = await stack["consent"].client.post(
            f"/care-team/invitations/{invitation_id}/accept", headers=nurse.headers
        )
        assert accepted.status_code == 200, accepted.text
        added = [
            e for e in await events_about(stack, subject_id) if e[0] == "consent.care-team-member-added.v1"
        ]
        assert [d["user_id"] for _, d in added] == [str(doctor.user_id), str(nurse.user_id)]
        assert added[-1][1]["facility_id"] == str(nurse.facility_id)
        assert (
            await stack["consent"].client.get(f"/subjects/{subject_id}", headers=nurse.headers)
        ).status_code == 200
        twice = await stack["consent"].client.post(
            f"/care-team/invitations/{invitation_id}/accept", headers=nurse.headers
        )
        assert twice.status_code == 409

    async def test_c6_a_declined_invitation_shares_nothing(self, stack: Stack) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        subject_id = await new_subject(stack, doctor)
        invitation_id = await invite(stack, doctor, subject_id, nurse)
        declined = await stack["consent"].client.post(
            f"/care-team/invitations/{invitation_id}/decline", headers=nurse.headers
        )
        assert declined.status_code == 200 and declined.json()["status"] == "declined"
        assert (
            await stack["consent"].client.get(f"/subjects/{subject_id}", headers=nurse.headers)
        ).status_code == 404
        added = [
            e for e in await events_about(stack, subject_id) if e[0] == "consent.care-team-member-added.v1"
        ]
        assert len(added) == 1

    async def test_c6_inviting_a_member_or_an_already_invited_user_is_409(self, stack: Stack) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        subject_id = await new_subject(stack, doctor)
        await invite(stack, doctor, subject_id, nurse)
        for who, slug in ((nurse, "already-invited"), (doctor, "already-member")):
            response = await stack["consent"].client.post(
                f"/subjects/{subject_id}/care-team",
                json={"user_id": str(who.user_id)},
                headers=doctor.headers,
            )
            assert response.status_code == 409 and response.json()["type"] == f"urn:yui:problem:{slug}"


class TestLeaveAndRemove:
    async def join(self, stack: Stack, doctor: Staff, subject_id: UUID, member: Staff) -> None:
        invitation_id = await invite(stack, doctor, subject_id, member)
        accepted = await stack["consent"].client.post(
            f"/care-team/invitations/{invitation_id}/accept", headers=member.headers
        )
        assert accepted.status_code == 200, accepted.text

    async def test_c6_leaving_and_being_removed_end_access_and_are_announced(self, stack: Stack) -> None:
        doctor, nurse, pharmacist = stack.staff(), stack.staff(), stack.staff()
        subject_id = await new_subject(stack, doctor)
        await self.join(stack, doctor, subject_id, nurse)
        await self.join(stack, doctor, subject_id, pharmacist)

        left = await stack["consent"].client.delete(
            f"/subjects/{subject_id}/care-team/{nurse.user_id}", headers=nurse.headers
        )
        assert left.status_code == 204, left.text
        removed = await stack["consent"].client.delete(
            f"/subjects/{subject_id}/care-team/{pharmacist.user_id}", headers=doctor.headers
        )
        assert removed.status_code == 204, removed.text
        for gone in (nurse, pharmacist):
            response = await stack["consent"].client.get(f"/subjects/{subject_id}", headers=gone.headers)
            assert response.status_code == 404
        announced = [
            (d["user_id"], d["reason"])
            for t, d in await events_about(stack, subject_id)
            if t == "consent.care-team-member-removed.v1"
        ]
        assert announced == [(str(nurse.user_id), "left"), (str(pharmacist.user_id), "removed")]
        team = await stack["consent"].client.get(f"/subjects/{subject_id}/care-team", headers=doctor.headers)
        assert [m["user_id"] for m in team.json()] == [str(doctor.user_id)]

    async def test_c6_the_last_member_cannot_leave(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id = await new_subject(stack, doctor)
        response = await stack["consent"].client.delete(
            f"/subjects/{subject_id}/care-team/{doctor.user_id}", headers=doctor.headers
        )
        assert response.status_code == 409 and response.json()["type"] == "urn:yui:problem:last-member"
