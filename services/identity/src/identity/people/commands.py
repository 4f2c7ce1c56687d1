"""``python -m identity republish-people``: every user's identity.person-changed.v1 again (a backfill)."""

from __future__ import annotations

from yui_common.db import create_engine, create_sessionmaker
from yui_common.settings import CommonSettings

from identity.people.service import republish_people


async def republish_people_command(settings: CommonSettings) -> int:
    """For a deployment that had users before the services kept people projections (issue 10): each user is
    published with a new version through the outbox, in one transaction; the worker's relay sends them."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            count = await republish_people(session)
        print(f"identity: {count} people published again (identity.person-changed.v1)")
        return 0
    finally:
        await engine.dispose()
