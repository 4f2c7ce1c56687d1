"""What consent's tests share: a subject registered through the API, and (for service-level tests) a staff
principal with a subject registered, consented and withdrawn through the use cases in the caller's transaction."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from consent.consents import service as consents
from consent.models import Consent, Subject
from consent.subjects import service as subjects
from consent.withdrawals import service as withdrawals
from consent.withdrawals.schemas import WithdrawalRead
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal

from tests.support.stack import Stack, Staff

PARTICIPANTS = ("timeline", "notify")


async def registered_subject(stack: Stack, staff: Staff, *, name: str, name_kana: str) -> UUID:
    """A subject registered through the API by ``staff``, who is then its only care-team member."""
    created = await stack["consent"].client.post(
        "/subjects",
        json={"name": name, "name_kana": name_kana, "municipality_code": "232360"},
        headers=staff.headers,
    )
    assert created.status_code == 201, created.text
    return UUID(created.json()["id"])


def staff_principal(tenant: str = "demo") -> Principal:
    return Principal(user_id=uuid4(), tenant=tenant, facility_id=uuid4(), roles=frozenset({"staff"}))


async def register_subject(
    session: AsyncSession, who: Principal, *, name: str = "結", name_kana: str = "ユイ"
) -> Subject:
    return await subjects.register_subject(
        session, principal=who, name=name, name_kana=name_kana, birth_date=None, municipality_code="232360"
    )


async def give_consent(
    session: AsyncSession,
    who: Principal,
    subject_id: UUID,
    *,
    given_by: str = "subject",
    proxy_name: str | None = None,
    proxy_relation: str | None = None,
) -> Consent:
    return await consents.give_consent(
        session,
        principal=who,
        subject_id=subject_id,
        given_by=given_by,
        proxy_name=proxy_name,
        proxy_relation=proxy_relation,
        given_on=date.today(),
    )


async def withdraw_consent(
    session: AsyncSession,
    who: Principal,
    subject_id: UUID,
    *,
    requested_by: str = "subject",
    requester_name: str | None = None,
    requester_relation: str | None = None,
    participants: tuple[str, ...] = PARTICIPANTS,
) -> WithdrawalRead:
    return await withdrawals.withdraw_consent(
        session,
        principal=who,
        subject_id=subject_id,
        requested_by=requested_by,
        requester_name=requester_name,
        requester_relation=requester_relation,
        participants=participants,
        mode="stop",
    )


async def open_withdrawal(session: AsyncSession, who: Principal) -> WithdrawalRead:
    """Staged in the test's own transaction, never committed: no real worker can answer it first."""
    subject = await register_subject(session, who)
    await give_consent(session, who, subject.id)
    return await withdraw_consent(session, who, subject.id)
