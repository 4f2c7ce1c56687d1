"""The staff directory: colleagues of one's network found by name or kana, facility and profession."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession
from yui_common.people import PersonRef
from yui_common.vocabulary import Profession

from identity.people import service
from identity.people.schemas import PeoplePage

router = APIRouter(prefix="/people", tags=["people"])


@router.get("", response_model=PeoplePage, summary="Staff directory: active users of one's network")
async def search_people(
    principal: CurrentPrincipal,
    session: DbSession,
    q: Annotated[str, Query(max_length=100, description="Part of the name or its kana")] = "",
    facility_id: UUID | None = None,
    profession: Profession | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PeoplePage:
    items = await service.search_people(
        session,
        principal=principal,
        q=q.strip(),
        facility_id=facility_id,
        profession=profession,
        limit=limit,
    )
    return PeoplePage(items=items)


@router.get("/{user_id}", response_model=PersonRef, summary="One person of one's network")
async def get_person(user_id: UUID, principal: CurrentPrincipal, session: DbSession) -> PersonRef:
    return await service.get_person(session, principal=principal, user_id=user_id)
