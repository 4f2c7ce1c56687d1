"""Every query of the notify service. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Row, and_, delete, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from yui_common.auth import Principal

from notify.kinds import ADDRESSEE_KINDS, CARE_TEAM_INVITED, DEFAULT_RETENTION_DAYS, SUPPORT_STOPPED
from notify.models import (
    Account,
    ApplicantEmail,
    CareTeamMember,
    DigestSent,
    EmailDelivery,
    FacilityHold,
    NetworkDefaults,
    Notification,
    Preference,
    StoppedSubject,
    Subject,
)

# One channel for every API process: each LISTENs once and fans out to its open streams (n2).
LIVE_CHANNEL = "notify_live"


async def team_of(session: AsyncSession, *, subject_id: UUID) -> Sequence[UUID]:
    stmt = select(CareTeamMember.user_id).where(CareTeamMember.subject_id == subject_id)
    return (await session.execute(stmt)).scalars().all()


async def add_member(session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID) -> None:
    stmt = insert(CareTeamMember).values(subject_id=subject_id, user_id=user_id, tenant=tenant)
    await session.execute(stmt.on_conflict_do_nothing())


async def remove_member(session: AsyncSession, *, subject_id: UUID, user_id: UUID) -> None:
    await session.execute(
        delete(CareTeamMember).where(
            CareTeamMember.subject_id == subject_id, CareTeamMember.user_id == user_id
        )
    )


async def add_notifications(session: AsyncSession, rows: list[dict[str, object]]) -> list[tuple[UUID, UUID]]:
    """Insert what is new; returns (notification id, user id) of the rows actually created."""
    if not rows:
        return []
    stmt = (
        insert(Notification)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(Notification.id, Notification.user_id)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


def may_hear(notification: type[Notification] = Notification) -> ColumnElement[bool]:
    """n5, checked whenever a notification is shown, streamed or e-mailed (not only when it was made): the
    account and its facility are in good standing, the subject's support has not stopped (except the stop
    notice itself), and the person is still on the subject's care team (or is a support request's addressee).
    """
    account_held = exists().where(
        Account.user_id == notification.user_id,
        or_(
            Account.status != "active",
            exists().where(FacilityHold.facility_id == Account.facility_id),
        ),
    )
    on_team = exists().where(
        CareTeamMember.subject_id == notification.subject_id, CareTeamMember.user_id == notification.user_id
    )
    stopped = exists().where(StoppedSubject.subject_id == notification.subject_id)
    about_subject_allowed = or_(
        notification.kind == SUPPORT_STOPPED,
        and_(~stopped, or_(on_team, notification.kind.in_(ADDRESSEE_KINDS))),
    )
    return and_(~account_held, or_(notification.subject_id.is_(None), about_subject_allowed))


async def inbox(session: AsyncSession, *, tenant: str, user_id: UUID, limit: int) -> Sequence[Notification]:
    stmt = (
        select(Notification)
        .where(Notification.tenant == tenant, Notification.user_id == user_id, may_hear())
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def newer_than(
    session: AsyncSession,
    *,
    tenant: str,
    user_id: UUID,
    after_id: UUID | None,
    also_since: timedelta | None = None,
    limit: int = 200,
) -> Sequence[Notification]:
    """What a live stream has not sent yet, oldest first (ids are UUIDv7, so they order by time).

    Ids are drawn before commit, so a transaction that commits late can land below an id already sent;
    ``also_since`` re-reads that recent window and the caller skips what it has already sent."""
    stmt = select(Notification).where(
        Notification.tenant == tenant, Notification.user_id == user_id, may_hear()
    )
    if after_id is not None and also_since is not None:
        stmt = stmt.where(or_(Notification.id > after_id, Notification.created_at > func.now() - also_since))
    elif after_id is not None:
        stmt = stmt.where(Notification.id > after_id)
    else:
        stmt = stmt.where(Notification.read_at.is_(None))
    return (await session.execute(stmt.order_by(Notification.id).limit(limit))).scalars().all()


async def unread_count(session: AsyncSession, *, tenant: str, user_id: UUID) -> int:
    stmt = select(func.count()).where(
        Notification.tenant == tenant,
        Notification.user_id == user_id,
        Notification.read_at.is_(None),
        may_hear(),
    )
    return int((await session.execute(stmt)).scalar_one())


async def mark_all_read(session: AsyncSession, *, tenant: str, user_id: UUID) -> int:
    stmt = (
        update(Notification)
        .where(Notification.tenant == tenant, Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=datetime.now(UTC))
    )
    return (await session.execute(stmt)).rowcount or 0  # type: ignore[attr-defined,no-any-return]


async def announce(session: AsyncSession, *, notifications: Sequence[tuple[UUID, UUID]]) -> None:
    """Tell every API process's live hub when this transaction commits (NOTIFY is delivered on commit).

    One statement for the whole care team: a NOTIFY per member in its own round trip held the consumer's
    transaction open 50 round trips longer for a 50-member team."""
    if not notifications:
        return
    await session.execute(
        text("SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"),
        {
            "channel": LIVE_CHANNEL,
            "payloads": [f"{user_id} {notification_id}" for user_id, notification_id in notifications],
        },
    )


async def announced(session: AsyncSession, *, notification_ids: Sequence[UUID]) -> Sequence[Row[Any]]:
    """The announced notifications their recipients may still hear (n5), oldest first, each with its
    recipient's ``unread`` count: what a live hub pushes to its streams, in one statement for the whole batch.
    Plain rows (the columns of NotificationRead, ``tenant`` and ``user_id``): nothing here is written back."""
    unread = aliased(Notification)
    unread_of_recipient = (
        select(func.count())
        .where(
            unread.tenant == Notification.tenant,
            unread.user_id == Notification.user_id,
            unread.read_at.is_(None),
            may_hear(unread),
        )
        .correlate(Notification)
        .scalar_subquery()
    )
    stmt = (
        select(
            Notification.id,
            Notification.tenant,
            Notification.user_id,
            Notification.kind,
            Notification.subject_id,
            Notification.post_id,
            Notification.parent_id,
            Notification.author_id,
            Notification.excerpt,
            Notification.params,
            Notification.created_at,
            Notification.read_at,
            unread_of_recipient.label("unread"),
        )
        .where(Notification.id.in_(notification_ids), may_hear())
        .order_by(Notification.id)
    )
    return (await session.execute(stmt)).all()


# yui_common.revocations.revoked_kind's rule (tokens issued at or before an entry are refused), for many open
# streams in one statement: a live hub checks every stream it is about to push to.
_STREAMS_REVOKED = text(
    "SELECT s.stream FROM unnest(CAST(:streams AS int[]), CAST(:users AS text[]), "
    "CAST(:facilities AS text[]), CAST(:sessions AS text[]), CAST(:certificates AS text[]), "
    "CAST(:issued_at AS bigint[]), CAST(:tenants AS text[])) "
    "AS s(stream, user_id, facility, session, certificate, issued_at, tenant) "
    "WHERE EXISTS (SELECT 1 FROM revoked_principals r WHERE (r.kind, r.value) IN "
    "(('user', s.user_id), ('facility', s.facility), ('session', s.session), ('certificate', s.certificate)) "
    "AND r.revoked_at >= to_timestamp(s.issued_at) AND (r.lifted_at IS NULL OR r.revoked_at >= r.lifted_at) "
    "AND r.expires_at > now()) "
    # A suspended network's streams end too (yui_common.networks).
    "OR EXISTS (SELECT 1 FROM network_states n WHERE n.tenant = s.tenant AND n.status = 'suspended')"
)


async def revoked_streams(session: AsyncSession, *, streams: Sequence[tuple[Principal, int]]) -> set[int]:
    """The positions in ``streams`` (each a principal and its token's issued-at) that a deny-list entry now
    refuses."""
    if not streams:
        return set()
    found = await session.execute(
        _STREAMS_REVOKED,
        {
            "streams": list(range(len(streams))),
            "users": [str(p.user_id) for p, _ in streams],
            "facilities": [str(p.facility_id) if p.facility_id else "" for p, _ in streams],
            "sessions": [p.session_id or "" for p, _ in streams],
            "certificates": [(p.cert_fingerprint or "").lower() for p, _ in streams],
            "issued_at": [issued_at for _, issued_at in streams],
            "tenants": [p.tenant for p, _ in streams],
        },
    )
    return {int(row[0]) for row in found}


# --- projections -------------------------------------------------------------------------------------


async def upsert_account(
    session: AsyncSession, *, tenant: str, user_id: UUID, facility_id: UUID | None, roles: list[str] | None
) -> None:
    values: dict[str, object] = {"user_id": user_id, "tenant": tenant, "facility_id": facility_id}
    if roles is not None:
        values["roles"] = roles
    stmt = insert(Account).values(values)
    updates = {k: stmt.excluded[k] for k in values if k != "user_id" and values[k] is not None}
    await session.execute(stmt.on_conflict_do_update(index_elements=[Account.user_id], set_=updates))


async def set_account_status(
    session: AsyncSession, *, tenant: str, user_id: UUID, facility_id: UUID | None, status: str
) -> None:
    stmt = insert(Account).values(user_id=user_id, tenant=tenant, facility_id=facility_id, status=status)
    updates: dict[str, object] = {"status": status}
    if facility_id is not None:
        updates["facility_id"] = facility_id
    await session.execute(stmt.on_conflict_do_update(index_elements=[Account.user_id], set_=updates))


async def hold_facility(session: AsyncSession, *, facility_id: UUID, reason: str) -> None:
    stmt = insert(FacilityHold).values(facility_id=facility_id, reason=reason)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[FacilityHold.facility_id], set_={"reason": reason})
    )


async def release_facility(session: AsyncSession, *, facility_id: UUID) -> None:
    await session.execute(delete(FacilityHold).where(FacilityHold.facility_id == facility_id))


async def apply_subject_changed(
    session: AsyncSession,
    *,
    tenant: str,
    subject_id: UUID,
    name: str,
    name_kana: str | None,
    status: str,
    version: int,
) -> None:
    """Upsert the subject unless a newer version is already there: idempotent, and safe out of order."""
    values = {
        "subject_id": subject_id,
        "tenant": tenant,
        "name": name,
        "name_kana": name_kana,
        "status": status,
        "version": version,
    }
    stmt = insert(Subject).values(values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Subject.subject_id],
            set_={**{k: stmt.excluded[k] for k in values if k != "subject_id"}, "updated_at": func.now()},
            where=Subject.version < stmt.excluded.version,
        )
    )


async def subjects_by_id(session: AsyncSession, *, subject_ids: Sequence[UUID]) -> dict[UUID, Subject]:
    wanted = set(subject_ids)
    if not wanted:
        return {}
    found = await session.execute(select(Subject).where(Subject.subject_id.in_(wanted)))
    return {subject.subject_id: subject for subject in found.scalars()}


async def blank_excerpts(session: AsyncSession, *, subject_id: UUID, user_id: UUID | None = None) -> int:
    """Forget what notifications quoted of a subject's posts: all of them, or one reader's."""
    stmt = update(Notification).where(
        Notification.subject_id == subject_id, Notification.excerpt.is_not(None)
    )
    if user_id is not None:
        stmt = stmt.where(Notification.user_id == user_id)
    result = await session.execute(stmt.values(excerpt=None))
    return result.rowcount or 0  # type: ignore[attr-defined,no-any-return]


async def forget_invitations(session: AsyncSession, *, subject_id: UUID, user_id: UUID) -> int:
    """Someone who left (or was removed from) a care team no longer hears of having been invited to it: the
    invitation is an addressee kind, shown off the team, so it must go with the membership it led to (n5)."""
    result = await session.execute(
        delete(Notification).where(
            Notification.subject_id == subject_id,
            Notification.user_id == user_id,
            Notification.kind == CARE_TEAM_INVITED,
        )
    )
    return result.rowcount or 0  # type: ignore[attr-defined,no-any-return]


async def stop_subject(session: AsyncSession, *, subject_id: UUID) -> None:
    await session.execute(insert(StoppedSubject).values(subject_id=subject_id).on_conflict_do_nothing())


async def operators_of(session: AsyncSession, *, tenant: str) -> Sequence[UUID]:
    stmt = select(Account.user_id).where(
        Account.tenant == tenant, Account.roles.contains(["operator"]), Account.status == "active"
    )
    return (await session.execute(stmt)).scalars().all()


async def active_accounts(session: AsyncSession, *, tenant: str | None) -> Sequence[tuple[str, UUID]]:
    """(tenant, user id) of every active account: of one network, or of all (``None``)."""
    stmt = select(Account.tenant, Account.user_id).where(Account.status == "active")
    if tenant is not None:
        stmt = stmt.where(Account.tenant == tenant)
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def users_of_facility(session: AsyncSession, *, tenant: str, facility_id: UUID) -> Sequence[UUID]:
    stmt = select(Account.user_id).where(Account.tenant == tenant, Account.facility_id == facility_id)
    return (await session.execute(stmt)).scalars().all()


# --- preferences -------------------------------------------------------------------------------------


async def preferences_of(
    session: AsyncSession, *, tenant: str, user_ids: Sequence[UUID]
) -> dict[UUID, Preference]:
    if not user_ids:
        return {}
    stmt = select(Preference).where(Preference.tenant == tenant, Preference.user_id.in_(user_ids))
    return {p.user_id: p for p in (await session.execute(stmt)).scalars()}


async def network_defaults(session: AsyncSession, *, tenant: str) -> NetworkDefaults | None:
    return await session.get(NetworkDefaults, tenant)


async def save_preference(
    session: AsyncSession, *, tenant: str, user_id: UUID, values: dict[str, object]
) -> None:
    stmt = insert(Preference).values(tenant=tenant, user_id=user_id, **values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Preference.user_id, Preference.tenant], set_={**values, "updated_at": func.now()}
        )
    )


async def save_network_defaults(session: AsyncSession, *, tenant: str, values: dict[str, object]) -> None:
    stmt = insert(NetworkDefaults).values(tenant=tenant, **values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[NetworkDefaults.tenant], set_={**values, "updated_at": func.now()}
        )
    )


# --- e-mail ------------------------------------------------------------------------------------------


async def queue_emails(session: AsyncSession, rows: list[dict[str, object]]) -> None:
    if rows:
        await session.execute(insert(EmailDelivery).values(rows).on_conflict_do_nothing())


async def claim_pending_emails(session: AsyncSession, *, limit: int) -> Sequence[tuple[EmailDelivery, bool]]:
    """Pending e-mails, locked for this replica, each with whether its person may still hear of it."""
    stmt = (
        select(EmailDelivery, may_hear())
        .join(Notification, Notification.id == EmailDelivery.notification_id)
        .where(EmailDelivery.sent_at.is_(None))
        .order_by(EmailDelivery.queued_at)
        .limit(limit)
        .with_for_update(of=EmailDelivery, skip_locked=True)
    )
    return [(row[0], bool(row[1])) for row in (await session.execute(stmt)).all()]


async def settle_email(session: AsyncSession, *, delivery: EmailDelivery, outcome: str) -> None:
    delivery.sent_at = datetime.now(UTC)
    delivery.outcome = outcome


async def queue_applicant_email(
    session: AsyncSession, *, source_event_id: UUID, tenant: str, address: str, decision: str
) -> None:
    stmt = insert(ApplicantEmail).values(
        source_event_id=source_event_id, tenant=tenant, address=address, decision=decision
    )
    await session.execute(stmt.on_conflict_do_nothing())


async def claim_pending_applicant_emails(session: AsyncSession, *, limit: int) -> Sequence[ApplicantEmail]:
    stmt = (
        select(ApplicantEmail)
        .where(ApplicantEmail.sent_at.is_(None))
        .order_by(ApplicantEmail.queued_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def digest_candidates(session: AsyncSession) -> Sequence[Preference]:
    """Everyone who gave an address (whether any kind goes to their digest is decided per person)."""
    stmt = select(Preference).where(Preference.email.is_not(None))
    return (await session.execute(stmt)).scalars().all()


async def last_digest_until(session: AsyncSession, *, tenant: str, user_id: UUID) -> datetime | None:
    stmt = select(func.max(DigestSent.covered_until)).where(
        DigestSent.tenant == tenant, DigestSent.user_id == user_id
    )
    return (await session.execute(stmt)).scalar_one()


async def claim_digest(
    session: AsyncSession, *, tenant: str, user_id: UUID, day: object, covered_until: datetime
) -> bool:
    stmt = (
        insert(DigestSent)
        .values(tenant=tenant, user_id=user_id, day=day, covered_until=covered_until)
        .on_conflict_do_nothing()
        .returning(DigestSent.user_id)
    )
    return (await session.execute(stmt)).first() is not None


async def digest_kinds_since(
    session: AsyncSession,
    *,
    tenant: str,
    user_id: UUID,
    kinds: Sequence[str],
    since: datetime | None,
    until: datetime,
) -> Sequence[str]:
    """The kinds of unread notifications for the digest (kinds only: the e-mail names nothing more)."""
    stmt = select(Notification.kind).where(
        Notification.tenant == tenant,
        Notification.user_id == user_id,
        Notification.kind.in_(kinds),
        Notification.read_at.is_(None),
        Notification.created_at <= until,
        may_hear(),
    )
    if since is not None:
        stmt = stmt.where(Notification.created_at > since)
    return (await session.execute(stmt)).scalars().all()


async def purge_expired(session: AsyncSession) -> int:
    """Delete notifications older than their network's retention (default when the network set none)."""
    result = await session.execute(
        text(
            "DELETE FROM notifications n WHERE n.created_at < now() - make_interval(days => coalesce("
            "(SELECT d.retention_days FROM network_defaults d WHERE d.tenant = n.tenant), :default_days))"
        ),
        {"default_days": DEFAULT_RETENTION_DAYS},
    )
    return result.rowcount or 0  # type: ignore[attr-defined,no-any-return]


async def mark_read(session: AsyncSession, *, tenant: str, user_id: UUID, notification_id: UUID) -> bool:
    stmt = (
        update(Notification)
        .where(
            Notification.id == notification_id, Notification.user_id == user_id, Notification.tenant == tenant
        )
        .values(read_at=func.coalesce(Notification.read_at, datetime.now(UTC)))
        .returning(Notification.id)
    )
    return (await session.execute(stmt)).first() is not None
