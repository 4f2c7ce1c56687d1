"""Events timeline sends to itself: work that follows a commit in a transaction of its own.

They travel the bus like any event (outbox, inbox, retries, dead letters) but no other service reads them,
so they are not part of the published contracts (docs/asyncapi.json)."""

from __future__ import annotations

from yui_common.events import EventData, event
from yui_common.events.consent import ConsentWithdrawnV1


@event("timeline.support-stop-requested.v1")
class SupportStopRequestedV1(EventData):
    """The subject is already refused; now stop (or delete) their posts and report to consent."""

    withdrawal: ConsentWithdrawnV1
