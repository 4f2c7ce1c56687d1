"""Identity's people: who each user is (name, kana, profession, facility, status), kept in consent's projection."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.identity import PersonChangedV1
from yui_common.people import apply_person_changed

from consent.models import Person


async def on_person_changed(session: AsyncSession, envelope: Envelope, data: PersonChangedV1) -> None:
    # Version-ordered upsert: a late or repeated event never overwrites a newer one.
    await apply_person_changed(session, Person, envelope.tenant, data)


subscription = Subscription(
    queue="consent.people",
    handlers={PersonChangedV1.event_type: on_person_changed},
)
