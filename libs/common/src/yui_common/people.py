"""People as every service shows them: "name (profession, facility)", from identity's ``person-changed`` events.

Identity owns who a user is. Each service that shows people keeps its own projection table (a model that mixes
in ``PersonProjection``), fed by ``apply_person_changed`` from its consumer of ``identity.person-changed.v1``,
and answers with ``PersonRef`` wherever its API names a person. A person the projection has not heard of yet
reads as "unknown" rather than as an id: no page ever shows a UUID (issue 10).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from yui_common.events.identity import PersonChangedV1
from yui_common.vocabulary import profession_label

UNKNOWN_NAME = {"ja": "（不明な利用者）", "en": "(unknown user)"}


class PersonRef(BaseModel):
    """A person as an API answers with them; ``label()`` is what a page shows."""

    id: UUID
    name: str
    name_kana: str | None = None
    profession: str = "other"
    facility_id: UUID | None = None
    facility_name: str | None = None
    status: str = "active"

    def label(self, lang: str = "ja") -> str:
        """「山田 花子（訪問看護師、結訪問看護ステーション）」 / "Hanako Yamada (Visiting nurse, …)"."""
        detail = profession_label(self.profession, lang)
        if self.facility_name:
            detail += ("、" if lang == "ja" else ", ") + self.facility_name
        return f"{self.name}（{detail}）" if lang == "ja" else f"{self.name} ({detail})"

    @classmethod
    def unknown(cls, user_id: UUID, lang: str = "ja") -> PersonRef:
        return cls(id=user_id, name=UNKNOWN_NAME.get(lang, UNKNOWN_NAME["ja"]), status="unknown")


class PersonProjection:
    """Columns of a service's ``people`` table. Use as ``class Person(PersonProjection, Base): __tablename__ = "people"``."""

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(63), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    name_kana: Mapped[str | None] = mapped_column(sa.String(200))
    profession: Mapped[str] = mapped_column(sa.String(32), server_default="other")
    facility_id: Mapped[UUID] = mapped_column()
    facility_name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), server_default="active")
    version: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now())


async def apply_person_changed(session: AsyncSession, model: Any, tenant: str, data: PersonChangedV1) -> None:
    """Upsert the person unless a newer version is already there: idempotent, and safe out of order."""
    values = {
        "user_id": data.user_id,
        "tenant": tenant,
        "name": data.name,
        "name_kana": data.name_kana,
        "profession": data.profession,
        "facility_id": data.facility_id,
        "facility_name": data.facility_name,
        "status": data.status,
        "version": data.version,
    }
    statement = insert(model).values(**values)
    table = model.__table__
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.user_id],
            set_={
                **{k: statement.excluded[k] for k in values if k != "user_id"},
                "updated_at": sa.func.now(),
            },
            where=table.c.version < statement.excluded.version,
        )
    )


def ref_of(row: Any) -> PersonRef:
    """A projection row as a ``PersonRef``."""
    return PersonRef(
        id=row.user_id,
        name=row.name,
        name_kana=row.name_kana,
        profession=row.profession,
        facility_id=row.facility_id,
        facility_name=row.facility_name,
        status=row.status,
    )


async def people_by_id(
    session: AsyncSession, model: Any, tenant: str, user_ids: Iterable[UUID]
) -> dict[UUID, PersonRef]:
    """Every known person among ``user_ids`` in ``tenant``, in one query; the unknown ones are absent."""
    wanted = {u for u in user_ids if u is not None}
    if not wanted:
        return {}
    rows = await session.execute(sa.select(model).where(model.tenant == tenant, model.user_id.in_(wanted)))
    return {row.user_id: ref_of(row) for row in rows.scalars()}


def person_or_unknown(people: dict[UUID, PersonRef], user_id: UUID) -> PersonRef:
    return people.get(user_id) or PersonRef.unknown(user_id)
