"""Making people that tests create straight in identity's tables known to the other services, as identity does
for users created through its API: identity.person-changed.v1 through its outbox, then waiting until consent's
projection holds them (consent invites only people it knows, issue 10)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import sqlalchemy as sa

from tests.support.stack import Stack, eventually


async def introduce_people(stack: Stack, user_ids: Iterable[UUID]) -> None:
    from consent.models import Person
    from identity.models import User
    from identity.people.service import publish_person_changed

    wanted = list(user_ids)
    async with stack["identity"].sessionmaker() as session, session.begin():
        for user_id in wanted:
            user = await session.get(User, user_id, with_for_update=True)
            assert user is not None, user_id
            await publish_person_changed(session, user)

    async def all_known() -> bool:
        async with stack["consent"].sessionmaker() as session:
            known = await session.scalar(
                sa.select(sa.func.count())
                .select_from(Person)
                .where(Person.user_id.in_(wanted), Person.version >= 1)
            )
        return known == len(set(wanted))

    await eventually(all_known, what="consent knowing the people identity published")
