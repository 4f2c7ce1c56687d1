"""People as timeline's answers name them (issue 10): ``PersonRef`` from the people projection, for the ORM path
(``people_of``, one query for a whole answer) and for the lean page's records (``person_json``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.people import PersonRef, people_by_id, person_or_unknown

from timeline.models import Person

__all__ = ["PersonRef", "people_of", "person_json", "person_or_unknown"]


async def people_of(
    session: AsyncSession, *, tenant: str, user_ids: Iterable[UUID | None]
) -> dict[UUID, PersonRef]:
    """Every known person among ``user_ids``, in one query (an unknown one is absent: ``person_or_unknown``)."""
    return await people_by_id(session, Person, tenant, (u for u in user_ids if u is not None))


# ``PersonRef.unknown``'s JSON once: building and dumping the model per post cost a tenth of a page's CPU.
_UNKNOWN_JSON = PersonRef.unknown(UUID(int=0)).model_dump(mode="json")


def person_json(user_id: str, record: Any) -> dict[str, Any]:
    """A person record of the page statement (name, name_kana, profession, facility_id, facility_name,
    status; None when unknown) as ``PersonRef``'s JSON, field for field."""
    if record is None:
        return {**_UNKNOWN_JSON, "id": user_id}
    name, name_kana, profession, facility_id, facility_name, status = record
    return {
        "id": user_id,
        "name": name,
        "name_kana": name_kana,
        "profession": profession,
        "facility_id": facility_id,
        "facility_name": facility_name,
        "status": status,
    }
