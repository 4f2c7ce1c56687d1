"""Queries of the consent projection: who is on a subject's care team and whether the subject is shared, with the
row locks that serialize a write into a subject's timeline with the subject's withdrawal (C4); and the hot reads'
one authorization statement (deny list, care team or group membership, support stopped), which takes no lock.

A write into a subject's timeline holds the subject's access row FOR SHARE until it commits; a withdrawal takes
the same row FOR UPDATE before it refuses the subject and marks the posts. FOR KEY SHARE would not do: it does
not conflict with the withdrawal's update of non-key columns. So a write either commits before the withdrawal
takes the row (and the bulk stop, which starts after the refusal commits, sees and marks it), or waits for the
withdrawal's commit and then reads the refusal. Every writer takes the access row before any post row, the
withdrawal's own order, so the two cannot deadlock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
from sqlalchemy import Select, and_, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.db import DriverStatement

from timeline.models import (
    CareTeamMember,
    SubjectAccess,
)


async def access_of(
    session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID, hold: bool = False
) -> SubjectAccess | None:
    """The subject's access row, only when the user is on its care team (one indexed join); with ``hold``,
    held FOR SHARE until the transaction ends (a write into the subject's timeline, see the module's note)."""
    stmt = (
        select(SubjectAccess)
        .join(CareTeamMember, and_(CareTeamMember.subject_id == SubjectAccess.subject_id))
        .where(
            SubjectAccess.subject_id == subject_id,
            SubjectAccess.tenant == tenant,
            CareTeamMember.user_id == user_id,
        )
    )
    if hold:
        stmt = _held(stmt)
    return (await session.execute(stmt)).scalar_one_or_none()


def _held(stmt: Select[tuple[SubjectAccess]]) -> Select[tuple[SubjectAccess]]:
    # FOR SHARE OF the access row only (not the care team row), and populate_existing: when the lock had to
    # wait for a withdrawal, the row it returns is the withdrawal's, and an object this session loaded earlier
    # must show that version, not the one it read before.
    return stmt.with_for_update(read=True, of=SubjectAccess).execution_options(populate_existing=True)


# The deny list's condition is yui_common.revocations' (_IS_REVOKED): tokens issued at or before an entry are
# refused. Both boards answer one row whatever the caller may reach: (revoked kind, reachable, stopped at).
# A suspended network refuses every token of it (yui_common.networks), as 'network'.
_REVOKED = (
    "coalesce((SELECT 'network' FROM network_states n WHERE n.tenant = :tenant AND n.status = 'suspended'), "
    "(SELECT r.kind FROM revoked_principals r WHERE (r.kind, r.value) IN "
    "(('user', :user), ('facility', :facility), ('session', :session), ('certificate', :certificate)) "
    "AND r.revoked_at >= to_timestamp(:issued_at) AND (r.lifted_at IS NULL OR r.revoked_at >= r.lifted_at) "
    "AND r.expires_at > now() LIMIT 1))"
)
_SUBJECT_AUTHORIZATION = DriverStatement.of(
    text(
        f"SELECT {_REVOKED} AS revoked, b.reachable IS NOT NULL AS reachable, b.support_stopped_at "  # noqa: S608 - constants only
        "FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT true AS reachable, a.support_stopped_at "
        " FROM subject_access a JOIN care_team_members m ON m.subject_id = a.subject_id "
        " WHERE a.subject_id = :board AND a.tenant = :tenant AND m.user_id = :me) b ON true"
    )
)
_GROUP_AUTHORIZATION = DriverStatement.of(
    text(
        f"SELECT {_REVOKED} AS revoked, b.reachable IS NOT NULL AS reachable, "  # noqa: S608 - constants only
        "CAST(NULL AS timestamptz) AS support_stopped_at "
        "FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT true AS reachable "
        " FROM groups g JOIN group_members gm ON gm.group_id = g.id "
        " WHERE g.id = :board AND g.tenant = :tenant AND gm.user_id = :me AND gm.status = 'member') b ON true"
    )
)


async def board_authorization(
    connection: asyncpg.Connection,
    *,
    tenant: str,
    user_id: UUID,
    facility_id: UUID | None,
    session_id: str | None,
    cert_fingerprint: str | None,
    issued_at: int,
    subject_id: UUID | None = None,
    group_id: UUID | None = None,
) -> tuple[str | None, bool, datetime | None]:
    """In one statement on the driver's connection: the deny-list entry refusing the token (or None), whether
    the user is on the subject's care team or a member of the group, and when the subject's support stopped."""
    statement = _SUBJECT_AUTHORIZATION if subject_id is not None else _GROUP_AUTHORIZATION
    row = await connection.fetchrow(
        statement.sql,
        *statement.args(
            {
                "user": str(user_id),
                "facility": str(facility_id) if facility_id else "",
                "session": session_id or "",
                "certificate": (cert_fingerprint or "").lower(),
                "issued_at": issued_at,
                "board": subject_id if subject_id is not None else group_id,
                "tenant": tenant,
                "me": user_id,
            }
        ),
    )
    assert row is not None  # the statement answers one row whatever the caller may reach
    return row["revoked"], bool(row["reachable"]), row["support_stopped_at"]


async def subject_access(
    session: AsyncSession, *, subject_id: UUID, hold: bool = False
) -> SubjectAccess | None:
    """The subject's access row whoever asks; with ``hold``, held FOR SHARE as ``access_of`` holds it."""
    if not hold:
        return await session.get(SubjectAccess, subject_id)
    stmt = _held(select(SubjectAccess).where(SubjectAccess.subject_id == subject_id))
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_for_withdrawal(session: AsyncSession, *, subject_id: UUID) -> None:
    """Take the subject's access row FOR UPDATE: writes in flight (holding it FOR SHARE) commit first, and
    writes that come later wait for this transaction and then see what it changed."""
    await session.execute(
        select(SubjectAccess.subject_id).where(SubjectAccess.subject_id == subject_id).with_for_update()
    )


async def team_members_among(
    session: AsyncSession, *, subject_id: UUID, user_ids: Sequence[UUID]
) -> set[UUID]:
    stmt = select(CareTeamMember.user_id).where(
        CareTeamMember.subject_id == subject_id, CareTeamMember.user_id.in_(user_ids)
    )
    return set((await session.execute(stmt)).scalars())


async def team_member_ids(session: AsyncSession, *, subject_id: UUID) -> list[UUID]:
    stmt = select(CareTeamMember.user_id).where(CareTeamMember.subject_id == subject_id)
    return list((await session.execute(stmt)).scalars())


async def upsert_access(
    session: AsyncSession,
    *,
    tenant: str,
    subject_id: UUID,
    consent_active: bool,
    support_stopped_at: datetime | None,
) -> None:
    stmt = insert(SubjectAccess).values(
        subject_id=subject_id,
        tenant=tenant,
        consent_active=consent_active,
        support_stopped_at=support_stopped_at,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[SubjectAccess.subject_id],
        set_={
            "consent_active": consent_active,
            "support_stopped_at": support_stopped_at,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt)


async def stop_access(session: AsyncSession, *, tenant: str, subject_id: UUID, at: datetime) -> datetime:
    """Refuse the subject from ``at``, or keep the moment it was first refused (a withdrawal's two steps and a
    replayed event all see one time); returns that moment. Locks the row first (``lock_for_withdrawal``)."""
    await lock_for_withdrawal(session, subject_id=subject_id)
    stmt = insert(SubjectAccess).values(
        subject_id=subject_id, tenant=tenant, consent_active=False, support_stopped_at=at
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[SubjectAccess.subject_id],
        set_={
            "consent_active": False,
            "support_stopped_at": func.coalesce(
                SubjectAccess.support_stopped_at, stmt.excluded.support_stopped_at
            ),
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(SubjectAccess.support_stopped_at)
    stopped_at = (await session.execute(upsert)).scalar_one()
    return stopped_at or at  # never None: the row was just given ``at`` or already had a time


async def ensure_access(session: AsyncSession, *, tenant: str, subject_id: UUID) -> None:
    """Know of the subject (no consent yet) without overriding what consent's events already said."""
    stmt = insert(SubjectAccess).values(subject_id=subject_id, tenant=tenant, consent_active=False)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=[SubjectAccess.subject_id]))


async def add_member(session: AsyncSession, *, tenant: str, subject_id: UUID, user_id: UUID) -> None:
    stmt = insert(CareTeamMember).values(subject_id=subject_id, user_id=user_id, tenant=tenant)
    await session.execute(stmt.on_conflict_do_nothing())


async def remove_member(session: AsyncSession, *, subject_id: UUID, user_id: UUID) -> None:
    await session.execute(
        delete(CareTeamMember).where(
            CareTeamMember.subject_id == subject_id, CareTeamMember.user_id == user_id
        )
    )
