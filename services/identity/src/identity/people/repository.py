"""Every query of the staff directory and of person events. Takes the session; never commits."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from identity.models import Facility, User

HIRAGANA = "".join(chr(c) for c in range(0x3041, 0x3097))  # ぁ … ゖ
KATAKANA = "".join(chr(c) for c in range(0x30A1, 0x30F7))  # ァ … ヶ


def folded(text: str) -> str:
    """What a search compares: NFKC (full-width letters, half-width kana), lower case, no spaces, katakana."""
    normal = "".join(unicodedata.normalize("NFKC", text).lower().split())
    return normal.translate(str.maketrans(HIRAGANA, KATAKANA))


def _folded_column(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[str]:
    """``folded`` in SQL (PostgreSQL's normalize() needs a UTF8 database, which ours are)."""
    normal = sa.func.lower(sa.func.normalize(column, sa.literal_column("NFKC")))
    no_spaces = sa.func.regexp_replace(normal, r"\s", "", "g")
    return sa.func.translate(no_spaces, HIRAGANA, KATAKANA)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(
    session: AsyncSession,
    *,
    tenant: str,
    q: str,
    facility_id: UUID | None,
    profession: str | None,
    limit: int,
) -> Sequence[tuple[User, Facility]]:
    """Active users of active facilities of the network, matching name or kana in part, by kana then name."""
    stmt = (
        select(User, Facility)
        .join(Facility, Facility.id == User.facility_id)
        .where(User.tenant == tenant, User.status == "active", Facility.status == "active")
    )
    if facility_id is not None:
        stmt = stmt.where(User.facility_id == facility_id)
    if profession is not None:
        stmt = stmt.where(User.profession == profession)
    key = folded(q)
    if key:
        pattern = _like_pattern(key)
        stmt = stmt.where(
            sa.or_(
                _folded_column(User.display_name).like(pattern, escape="\\"),
                _folded_column(sa.func.coalesce(User.name_kana, "")).like(pattern, escape="\\"),
            )
        )
    order = _folded_column(sa.func.coalesce(User.name_kana, User.display_name))
    stmt = stmt.order_by(order, User.display_name, User.id).limit(limit)
    return [(user, facility) for user, facility in (await session.execute(stmt)).all()]


async def person(session: AsyncSession, *, tenant: str, user_id: UUID) -> tuple[User, Facility] | None:
    stmt = (
        select(User, Facility)
        .join(Facility, Facility.id == User.facility_id)
        .where(User.tenant == tenant, User.id == user_id)
    )
    row = (await session.execute(stmt)).first()
    return (row[0], row[1]) if row else None


async def users_of_facility_for_update(session: AsyncSession, *, facility_id: UUID) -> Sequence[User]:
    stmt = select(User).where(User.facility_id == facility_id).order_by(User.id).with_for_update()
    return (await session.execute(stmt)).scalars().all()


async def users_for_republishing(session: AsyncSession, *, tenant: str | None) -> Sequence[User]:
    stmt = select(User).order_by(User.tenant, User.id).with_for_update()
    if tenant is not None:
        stmt = stmt.where(User.tenant == tenant)
    return (await session.execute(stmt)).scalars().all()
