"""Helpers of the timeline tests: subjects and groups known to timeline, problem assertions, file samples."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from PIL import Image
from timeline.access import service as access
from uuid6 import uuid7
from yui_common.events.consent import ConsentWithdrawnV1

from tests.support.stack import Stack, Staff


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}" and body["status"] == status and body["title"]
    return body


async def subject_with_team(stack: Stack, *members: Staff, consent: bool = True) -> UUID:
    """What consent's events would have told timeline (care team, consent), committed directly."""
    subject_id = uuid7()
    async with stack["timeline"].sessionmaker() as session, session.begin():
        for member in members:
            await access.care_team_member_added(
                session, tenant=member.tenant, subject_id=subject_id, user_id=member.user_id
            )
        if consent:
            await access.consent_given(
                session, tenant=members[0].tenant if members else "demo", subject_id=subject_id
            )
    return subject_id


async def create_post(
    stack: Stack, staff: Staff, subject_id: UUID, body: str, **extra: Any
) -> dict[str, Any]:
    response = await stack["timeline"].client.post(
        f"/subjects/{subject_id}/posts",
        json={"category": "visit", "body": body, **extra},
        headers=staff.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def group_with_members(stack: Stack, owner: Staff, *members: Staff, name: str = "研修会") -> UUID:
    client = stack["timeline"].client
    created = await client.post("/groups", json={"name": name, "purpose": "training"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    group_id = UUID(created.json()["id"])
    for member in members:
        invited = await client.post(
            f"/groups/{group_id}/invitations", json={"user_id": str(member.user_id)}, headers=owner.headers
        )
        assert invited.status_code == 204, invited.text
        accepted = await client.post(f"/groups/{group_id}/invitations/accept", headers=member.headers)
        assert accepted.status_code == 204, accepted.text
    return group_id


def png_bytes(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, "PNG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 200


async def refuse_withdrawn(stack: Stack, subject_id: UUID, *, mode: str = "delete") -> ConsentWithdrawnV1:
    """A withdrawal's first step as timeline's consumer takes it (the subject refused from this commit); the
    returned event, published, runs the rest (``test_consumers.publish``)."""
    withdrawal = ConsentWithdrawnV1(
        subject_id=subject_id,
        consent_id=uuid7(),
        withdrawal_id=uuid7(),
        withdrawn_at=datetime.now(UTC),
        mode=mode,  # type: ignore[arg-type]
    )
    async with stack["timeline"].sessionmaker() as session, session.begin():
        await access.refuse_subject(session, tenant="demo", withdrawal=withdrawal)
    return withdrawal
