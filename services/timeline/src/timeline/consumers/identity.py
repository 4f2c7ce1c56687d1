"""Identity's events: who a person is (name, profession, facility), for the people timeline's answers name."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.identity import PersonChangedV1
from yui_common.people import apply_person_changed

from timeline.models import Person


async def on_person_changed(session: AsyncSession, envelope: Envelope, data: PersonChangedV1) -> None:
    await apply_person_changed(session, Person, envelope.tenant, data)


subscription = Subscription(
    queue="timeline.identity-events",
    handlers={PersonChangedV1.event_type: on_person_changed},
)
