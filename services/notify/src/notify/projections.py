"""Who may hear, and who is named: notify's projections of care teams, accounts, facilities, people and subjects,
fed by others' events."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.events.consent import SubjectChangedV1
from yui_common.events.identity import PersonChangedV1
from yui_common.people import apply_person_changed

from notify import kinds, repository, service
from notify.models import Person

SUPPORT_STOPPED = "support_stopped"


async def join_care_team(session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID) -> None:
    await repository.add_member(session, tenant=tenant, subject_id=subject_id, user_id=user_id)


async def leave_care_team(session: AsyncSession, *, subject_id: UUID, user_id: UUID) -> None:
    # What was queued for them about this subject is withheld from now on: delivery checks the team (n5); and
    # what their notifications quoted of its posts is forgotten, should they ever be shown again.
    await repository.remove_member(session, subject_id=subject_id, user_id=user_id)
    await repository.blank_excerpts(session, subject_id=subject_id, user_id=user_id)
    await repository.forget_invitations(session, subject_id=subject_id, user_id=user_id)


async def forget_invitation(session: AsyncSession, *, subject_id: UUID, user_id: UUID) -> None:
    """A declined invitation no longer names the patient to the person who declined it (n5)."""
    await repository.forget_invitations(session, subject_id=subject_id, user_id=user_id)


async def record_person(session: AsyncSession, *, tenant: str, data: PersonChangedV1) -> None:
    await apply_person_changed(session, Person, tenant, data)


async def record_subject(session: AsyncSession, *, tenant: str, data: SubjectChangedV1) -> None:
    """Keep the subject's newest name and status; once support stopped, forget every excerpt of its posts."""
    await repository.apply_subject_changed(
        session,
        tenant=tenant,
        subject_id=data.subject_id,
        name=data.name,
        name_kana=data.name_kana,
        status=data.status,
        version=data.version,
    )
    if data.status == SUPPORT_STOPPED:
        await repository.blank_excerpts(session, subject_id=data.subject_id)


async def record_account(
    session: AsyncSession, *, tenant: str, user_id: UUID, facility_id: UUID | None, roles: list[str] | None
) -> None:
    await repository.upsert_account(
        session, tenant=tenant, user_id=user_id, facility_id=facility_id, roles=roles
    )


# What the account holder is told when their account takes this status; a disabled account hears nothing.
ACCOUNT_STATUS_KINDS = {"suspended": kinds.ACCOUNT_SUSPENDED, "active": kinds.ACCOUNT_REINSTATED}


async def change_account_status(
    session: AsyncSession,
    *,
    tenant: str,
    user_id: UUID,
    facility_id: UUID | None,
    status: str,
    source_event_id: UUID,
) -> None:
    await repository.set_account_status(
        session, tenant=tenant, user_id=user_id, facility_id=facility_id, status=status
    )
    kind = ACCOUNT_STATUS_KINDS.get(status)
    if kind is not None:
        # A suspension notice is seen only once reinstated: a suspended account receives nothing (n5).
        await service.tell(
            session, tenant=tenant, user_ids=[user_id], kind=kind, source_event_id=source_event_id
        )


async def hold_facility(session: AsyncSession, *, facility_id: UUID, reason: str) -> None:
    await repository.hold_facility(session, facility_id=facility_id, reason=reason)


async def release_facility(session: AsyncSession, *, facility_id: UUID) -> None:
    await repository.release_facility(session, facility_id=facility_id)
