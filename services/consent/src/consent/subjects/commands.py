"""``python -m consent republish-subjects``: every subject's consent.subject-changed.v1 again (a backfill)."""

from __future__ import annotations

from yui_common.db import create_engine, create_sessionmaker
from yui_common.settings import CommonSettings

from consent.subjects.changes import republish_subjects


async def republish_subjects_command(settings: CommonSettings) -> int:
    """For a deployment that had subjects before the services kept a subjects projection (issue 10): each
    subject is published with a new version through the outbox, in one transaction; the worker's relay sends
    them, so notify learns the patients' names. Never contact details (the event carries none)."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            count = await republish_subjects(session)
        print(f"consent: {count} subjects published again (consent.subject-changed.v1)")
        return 0
    finally:
        await engine.dispose()
