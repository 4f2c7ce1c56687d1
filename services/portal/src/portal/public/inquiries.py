"""Inquiries to the operator (P5): stored with whether they came within support hours and when to expect
an answer, and listed for the operator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit

from portal.models import Inquiry
from portal.notices.service import Actor, now, require_operator, settings_of
from portal.public import repository
from portal.public.hours import SupportHours

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class InquiryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Line
    email: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    ]
    organisation: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    subject: Line
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class InquiryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    name: str
    email: str
    organisation: str
    subject: str
    body: str
    received_at: datetime
    within_hours: bool
    answer_expected_from: datetime


async def receive(
    session: AsyncSession, *, tenant: str, inquiry: InquiryCreate, user_id: UUID | None
) -> Inquiry:
    hours = SupportHours.of(await settings_of(session, tenant))
    moment = now()
    row = Inquiry(
        tenant=tenant,
        name=inquiry.name,
        email=inquiry.email,
        organisation=inquiry.organisation,
        subject=inquiry.subject,
        body=inquiry.body,
        received_at=moment,
        within_hours=hours.is_within(moment),
        answer_expected_from=hours.next_opening(moment) or moment,
        user_id=user_id,
    )
    session.add(row)
    await session.flush()
    # The sender's name and address are personal data: their arrival is on record (never their content).
    await audit.record(
        session,
        tenant=tenant,
        actor_id=str(user_id) if user_id else "public",
        action="inquiry.received",
        target=f"inquiry:{row.id}",
    )
    return row


async def list_for_operator(session: AsyncSession, *, actor: Actor, limit: int = 200) -> Sequence[Inquiry]:
    require_operator(actor)
    rows = await repository.inquiries(session, tenant=actor.tenant, limit=limit)
    await audit.record_by(
        session,
        actor,
        action="inquiry.listed",
        target=f"network:{actor.tenant}",
        detail={"count": len(rows)},
    )
    return rows
