"""Every query of the consent service. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from consent.models import (
    CareTeamInvitation,
    CareTeamMember,
    CascadeStep,
    Consent,
    ExceptionalAccess,
    FamilyContact,
    Network,
    NetworkMunicipality,
    ResidenceException,
    Subject,
    Withdrawal,
)


async def subject_visible_to(
    session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID
) -> Subject | None:
    """The subject, only when the user is on its care team in the same network."""
    stmt = (
        select(Subject)
        .join(CareTeamMember, CareTeamMember.subject_id == Subject.id)
        .where(Subject.id == subject_id, Subject.tenant == tenant, CareTeamMember.user_id == user_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def subjects_of_member(session: AsyncSession, *, tenant: str, user_id: UUID) -> Sequence[Subject]:
    stmt = (
        select(Subject)
        .join(CareTeamMember, CareTeamMember.subject_id == Subject.id)
        .where(Subject.tenant == tenant, CareTeamMember.user_id == user_id)
        .order_by(Subject.name_kana)
    )
    return (await session.execute(stmt)).scalars().all()


async def active_consent(session: AsyncSession, *, subject_id: UUID, lock: bool = False) -> Consent | None:
    stmt = select(Consent).where(Consent.subject_id == subject_id, Consent.status == "active")
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def latest_consent(session: AsyncSession, *, subject_id: UUID) -> Consent | None:
    stmt = (
        select(Consent).where(Consent.subject_id == subject_id).order_by(Consent.recorded_at.desc()).limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_care_team_member(session: AsyncSession, member: CareTeamMember) -> bool:
    stmt = (
        insert(CareTeamMember)
        .values(
            subject_id=member.subject_id,
            user_id=member.user_id,
            facility_id=member.facility_id,
            added_by=member.added_by,
        )
        .on_conflict_do_nothing()
        .returning(CareTeamMember.user_id)
    )
    return (await session.execute(stmt)).first() is not None


async def withdrawals_of(session: AsyncSession, *, subject_id: UUID) -> Sequence[Withdrawal]:
    stmt = (
        select(Withdrawal).where(Withdrawal.subject_id == subject_id).order_by(Withdrawal.requested_at.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def withdrawal(session: AsyncSession, *, tenant: str, withdrawal_id: UUID) -> Withdrawal | None:
    stmt = select(Withdrawal).where(Withdrawal.id == withdrawal_id, Withdrawal.tenant == tenant)
    return (await session.execute(stmt)).scalar_one_or_none()


async def cascade_steps(session: AsyncSession, *, withdrawal_ids: Sequence[UUID]) -> Sequence[CascadeStep]:
    stmt = (
        select(CascadeStep).where(CascadeStep.withdrawal_id.in_(withdrawal_ids)).order_by(CascadeStep.service)
    )
    return (await session.execute(stmt)).scalars().all()


async def incomplete_withdrawals(session: AsyncSession, *, tenant: str) -> Sequence[Withdrawal]:
    pending = select(CascadeStep.withdrawal_id).where(CascadeStep.status == "pending")
    stmt = (
        select(Withdrawal)
        .where(Withdrawal.tenant == tenant, Withdrawal.id.in_(pending))
        .order_by(Withdrawal.requested_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def complete_step(
    session: AsyncSession, *, withdrawal_id: UUID, service: str, completed_at: datetime, items_affected: int
) -> bool:
    """Mark one service's step done; a replay of the same report changes nothing."""
    stmt = (
        update(CascadeStep)
        .where(
            CascadeStep.withdrawal_id == withdrawal_id,
            CascadeStep.service == service,
            CascadeStep.status == "pending",
        )
        .values(status="done", completed_at=completed_at, items_affected=items_affected)
        .returning(CascadeStep.service)
    )
    return (await session.execute(stmt)).first() is not None


async def network(session: AsyncSession, *, tenant: str) -> Network | None:
    return await session.get(Network, tenant)


async def network_municipality_codes(session: AsyncSession, *, tenant: str) -> set[str]:
    stmt = select(NetworkMunicipality.municipality_code).where(NetworkMunicipality.tenant == tenant)
    return set((await session.execute(stmt)).scalars().all())


async def residence_exception_for_update(
    session: AsyncSession, *, tenant: str, exception_id: UUID
) -> ResidenceException | None:
    stmt = (
        select(ResidenceException)
        .where(ResidenceException.id == exception_id, ResidenceException.tenant == tenant)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def likely_duplicates(
    session: AsyncSession, *, tenant: str, name_kana_folded: str, birth_date: date, user_id: UUID
) -> Sequence[tuple[Subject, bool]]:
    """The network's subjects with this folded kana and birth date, and whether the user is on their team."""
    on_team = (
        select(CareTeamMember.user_id)
        .where(CareTeamMember.subject_id == Subject.id, CareTeamMember.user_id == user_id)
        .exists()
    )
    stmt = (
        select(Subject, on_team)
        .where(
            Subject.tenant == tenant,
            Subject.name_kana_folded == name_kana_folded,
            Subject.birth_date == birth_date,
        )
        .order_by(Subject.registered_at)
        .limit(20)
    )
    return [(row[0], bool(row[1])) for row in (await session.execute(stmt)).all()]


async def search_visible_subjects(
    session: AsyncSession,
    *,
    tenant: str,
    user_id: UUID,
    kana_prefix: str | None,
    birth_date: date | None,
    limit: int,
) -> Sequence[Subject]:
    stmt = (
        select(Subject)
        .join(CareTeamMember, CareTeamMember.subject_id == Subject.id)
        .where(Subject.tenant == tenant, CareTeamMember.user_id == user_id)
    )
    if kana_prefix:
        escaped = kana_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Subject.name_kana_folded.like(escaped + "%", escape="\\"))
    if birth_date is not None:
        stmt = stmt.where(Subject.birth_date == birth_date)
    # The index's own order (tenant, kana, birth date): a broad prefix stops after ``limit`` rows.
    stmt = stmt.order_by(Subject.name_kana_folded, Subject.birth_date).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def family_contacts_of(session: AsyncSession, *, subject_id: UUID) -> Sequence[FamilyContact]:
    stmt = select(FamilyContact).where(FamilyContact.subject_id == subject_id).order_by(FamilyContact.id)
    return (await session.execute(stmt)).scalars().all()


async def consents_of(session: AsyncSession, *, subject_id: UUID) -> Sequence[Consent]:
    stmt = select(Consent).where(Consent.subject_id == subject_id).order_by(Consent.recorded_at.desc())
    return (await session.execute(stmt)).scalars().all()


async def consent_of_subject(
    session: AsyncSession, *, subject_id: UUID, consent_id: UUID, lock: bool = False
) -> Consent | None:
    stmt = select(Consent).where(Consent.id == consent_id, Consent.subject_id == subject_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def care_team_of(session: AsyncSession, *, subject_id: UUID) -> Sequence[CareTeamMember]:
    stmt = (
        select(CareTeamMember)
        .where(CareTeamMember.subject_id == subject_id)
        .order_by(CareTeamMember.added_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def care_team_member(
    session: AsyncSession, *, subject_id: UUID, user_id: UUID
) -> CareTeamMember | None:
    return await session.get(CareTeamMember, (subject_id, user_id))


async def remove_care_team_member(session: AsyncSession, *, subject_id: UUID, user_id: UUID) -> bool:
    stmt = (
        delete(CareTeamMember)
        .where(CareTeamMember.subject_id == subject_id, CareTeamMember.user_id == user_id)
        .returning(CareTeamMember.user_id)
    )
    return (await session.execute(stmt)).first() is not None


async def pending_invitation(
    session: AsyncSession, *, subject_id: UUID, user_id: UUID
) -> CareTeamInvitation | None:
    stmt = select(CareTeamInvitation).where(
        CareTeamInvitation.subject_id == subject_id,
        CareTeamInvitation.user_id == user_id,
        CareTeamInvitation.status == "pending",
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def invitation_for_invitee(
    session: AsyncSession, *, tenant: str, invitation_id: UUID, user_id: UUID
) -> CareTeamInvitation | None:
    stmt = (
        select(CareTeamInvitation)
        .where(
            CareTeamInvitation.id == invitation_id,
            CareTeamInvitation.tenant == tenant,
            CareTeamInvitation.user_id == user_id,
        )
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def invitations_for(
    session: AsyncSession, *, tenant: str, user_id: UUID
) -> Sequence[CareTeamInvitation]:
    stmt = (
        select(CareTeamInvitation)
        .where(
            CareTeamInvitation.tenant == tenant,
            CareTeamInvitation.user_id == user_id,
            CareTeamInvitation.status == "pending",
        )
        .order_by(CareTeamInvitation.invited_at)
    )
    return (await session.execute(stmt)).scalars().all()


async def active_grant(
    session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID, now: datetime
) -> ExceptionalAccess | None:
    stmt = (
        select(ExceptionalAccess)
        .where(
            ExceptionalAccess.tenant == tenant,
            ExceptionalAccess.subject_id == subject_id,
            ExceptionalAccess.user_id == user_id,
            ExceptionalAccess.status == "approved",
            ExceptionalAccess.expires_at > now,
        )
        .order_by(ExceptionalAccess.expires_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def subject_in_network(session: AsyncSession, *, tenant: str, subject_id: UUID) -> Subject | None:
    stmt = select(Subject).where(Subject.id == subject_id, Subject.tenant == tenant)
    return (await session.execute(stmt)).scalar_one_or_none()


async def exceptional_access_requests(
    session: AsyncSession, *, tenant: str, status: str | None
) -> Sequence[ExceptionalAccess]:
    stmt = select(ExceptionalAccess).where(ExceptionalAccess.tenant == tenant)
    if status:
        stmt = stmt.where(ExceptionalAccess.status == status)
    return (
        (await session.execute(stmt.order_by(ExceptionalAccess.requested_at.desc()).limit(500)))
        .scalars()
        .all()
    )


async def grants_of_user(session: AsyncSession, *, tenant: str, user_id: UUID) -> Sequence[ExceptionalAccess]:
    stmt = (
        select(ExceptionalAccess)
        .where(ExceptionalAccess.tenant == tenant, ExceptionalAccess.user_id == user_id)
        .order_by(ExceptionalAccess.requested_at.desc())
        .limit(200)
    )
    return (await session.execute(stmt)).scalars().all()


async def exceptional_access_for_update(
    session: AsyncSession, *, tenant: str, grant_id: UUID
) -> ExceptionalAccess | None:
    stmt = (
        select(ExceptionalAccess)
        .where(ExceptionalAccess.id == grant_id, ExceptionalAccess.tenant == tenant)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def due_grants(
    session: AsyncSession, *, now: datetime, limit: int = 200
) -> Sequence[ExceptionalAccess]:
    """Approved grants past their end; SKIP LOCKED lets several worker replicas expire them side by side."""
    stmt = (
        select(ExceptionalAccess)
        .where(ExceptionalAccess.status == "approved", ExceptionalAccess.expires_at <= now)
        .order_by(ExceptionalAccess.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()
