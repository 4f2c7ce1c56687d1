"""Colleagues found by name in identity's staff directory (issue 10): the search behind every "invite a person"
form (a patient's care team, a group), offering each person found with one button; ids only in hidden fields."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from yui_common.people import PersonRef
from yui_common.vocabulary import PROFESSIONS, profession_label

from portal.clients.identity import IdentityClient
from portal.staff.pages import gather, optional


def facilities_of(people: list[PersonRef]) -> list[tuple[UUID, str]]:
    """The facilities of the directory's people, by name (the filter of the colleague search)."""
    named = {p.facility_id: p.facility_name for p in people if p.facility_id and p.facility_name}
    return sorted(named.items(), key=lambda item: item[1])


def uuid_or_none(value: str) -> UUID | None:
    try:
        return UUID(value) if value.strip() else None
    except ValueError:
        return None


async def _nothing() -> list[PersonRef]:
    return []


async def colleague_search(
    identity: IdentityClient,
    *,
    q: str,
    facility_id: str,
    profession: str,
    lang: str,
    exclude: Collection[UUID] = (),
) -> dict[str, Any]:
    """What a page's colleague search shows: the form's values, its facility and profession choices, and (once
    asked) the active colleagues by name or kana, facility and profession, less those in ``exclude``."""
    facility = uuid_or_none(facility_id)
    chosen_profession = profession if profession in PROFESSIONS else ""
    searched = bool(q.strip() or facility or chosen_profession)
    everyone, found = await gather(
        optional(identity.search_people("", limit=100), []),
        optional(
            identity.search_people(q.strip(), facility_id=facility, profession=chosen_profession or None),
            [],
        )
        if searched
        else _nothing(),
    )
    return {
        "search_q": q,
        "search_facility": str(facility) if facility else "",
        "search_profession": chosen_profession,
        "searched": searched,
        "facilities": facilities_of(everyone),
        "professions": [(p, profession_label(p, lang)) for p in PROFESSIONS],
        "colleagues": [p for p in found if p.id not in exclude],
    }
