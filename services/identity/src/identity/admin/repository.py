"""Queries of the admin pages and the audit search: people and facilities of a network by id or by name, and
applications by reference number. Takes the session; never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from identity.models import Facility, User
from identity.people.repository import HIRAGANA, KATAKANA, folded

NAME_MATCHES = 20  # candidates offered when a name matches several people or facilities


def _folded(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[str]:
    """identity.people.repository.folded in SQL: NFKC, lower case, no spaces, hiragana as katakana."""
    normal = sa.func.lower(sa.func.normalize(column, sa.literal_column("NFKC")))
    return sa.func.translate(sa.func.regexp_replace(normal, r"\s", "", "g"), HIRAGANA, KATAKANA)


def _contains(text: str) -> str:
    escaped = folded(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def people_by_id(
    session: AsyncSession, *, tenant: str, user_ids: Iterable[UUID]
) -> dict[UUID, tuple[User, Facility]]:
    """Every user of the network among ``user_ids``, whatever their status (the log outlives accounts)."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    stmt = (
        select(User, Facility)
        .join(Facility, Facility.id == User.facility_id)
        .where(User.tenant == tenant, User.id.in_(wanted))
    )
    return {user.id: (user, facility) for user, facility in (await session.execute(stmt)).all()}


async def people_named(session: AsyncSession, *, tenant: str, name: str) -> Sequence[tuple[User, Facility]]:
    """Users of the network whose name or kana contains ``name`` (any status), by kana."""
    pattern = _contains(name)
    stmt = (
        select(User, Facility)
        .join(Facility, Facility.id == User.facility_id)
        .where(
            User.tenant == tenant,
            sa.or_(
                _folded(User.display_name).like(pattern, escape="\\"),
                _folded(sa.func.coalesce(User.name_kana, "")).like(pattern, escape="\\"),
            ),
        )
        .order_by(_folded(sa.func.coalesce(User.name_kana, User.display_name)), User.id)
        .limit(NAME_MATCHES)
    )
    return [(user, facility) for user, facility in (await session.execute(stmt)).all()]


async def facilities_by_id(
    session: AsyncSession, *, tenant: str, facility_ids: Iterable[UUID]
) -> dict[UUID, Facility]:
    wanted = set(facility_ids)
    if not wanted:
        return {}
    stmt = select(Facility).where(Facility.tenant == tenant, Facility.id.in_(wanted))
    return {facility.id: facility for facility in (await session.scalars(stmt)).all()}


async def facilities_of_network(session: AsyncSession, *, tenant: str) -> Sequence[Facility]:
    """Every facility that ever joined (applications still waiting or rejected left out), by name."""
    stmt = (
        select(Facility)
        .where(Facility.tenant == tenant, Facility.status.not_in(("applied", "rejected")))
        .order_by(Facility.name, Facility.id)
    )
    return (await session.scalars(stmt)).all()


async def applications(session: AsyncSession, *, tenant: str) -> Sequence[Facility]:
    """Every facility that applied through the form, whatever became of it, newest first."""
    stmt = (
        select(Facility)
        .where(Facility.tenant == tenant, Facility.applied_at.is_not(None))
        .order_by(Facility.applied_at.desc(), Facility.id)
    )
    return (await session.scalars(stmt)).all()
