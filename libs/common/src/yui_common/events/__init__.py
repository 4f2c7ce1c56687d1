"""Event contracts: the envelope every event travels in, and the registry of event types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from uuid6 import uuid7


class EventData(BaseModel):
    """The payload of one event type. Subclasses set ``event_type`` (``<producer>.<what>.v<N>``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    event_type: ClassVar[str]
    producer: ClassVar[str]


class Envelope(BaseModel):
    """What travels on the bus: CloudEvents-like fields around one event's data."""

    model_config = ConfigDict(frozen=True)

    id: UUID = Field(default_factory=uuid7)
    type: str
    source: str
    tenant: str
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    data: dict[str, Any]
    traceparent: str | None = None

    def parse_data(self) -> EventData:
        return EVENT_TYPES[self.type].model_validate(self.data)


EVENT_TYPES: dict[str, type[EventData]] = {}
E = TypeVar("E", bound=type[EventData])


def event(event_type: str) -> Any:
    """Class decorator registering an event contract under its type."""

    def register(cls: E) -> E:
        if event_type in EVENT_TYPES:
            raise ValueError(f"event type {event_type} registered twice")
        cls.event_type = event_type
        cls.producer = event_type.split(".", 1)[0]
        EVENT_TYPES[event_type] = cls
        return cls

    return register


def envelope_for(data: EventData, *, tenant: str, subject: str | None = None) -> Envelope:
    return Envelope(
        type=data.event_type,
        source=data.producer,
        tenant=tenant,
        subject=subject,
        data=data.model_dump(mode="json"),
    )


def load_all_contracts() -> dict[str, type[EventData]]:
    """Import every producer's module so the registry is complete."""
    from yui_common.events import (  # noqa: F401
        consent,
        federation,
        identity,
        network_end,
        notify,
        portal,
        revocations,
        timeline,
    )

    return EVENT_TYPES


class SupportStoppedBase(EventData):
    """A service finished its part of a withdrawal cascade (each producer registers its own type)."""

    subject_id: UUID
    withdrawal_id: UUID
    items_affected: int
    completed_at: datetime
