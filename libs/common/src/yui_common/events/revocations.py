"""Acknowledgements that a service's deny list holds one of identity's revocations (issue 14, finding 1).

One contract, `RevocationAppliedBase`, registered once per service that keeps a deny list so that each
acknowledgement's producer and routing key name the service that sent it (as the withdrawal cascade's
`SupportStoppedBase` reports do). identity waits for them before it answers the request that revoked.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from yui_common.events import EventData, event


class RevocationAppliedBase(EventData):
    """A service stored a revocation in its deny list: its API refuses the revoked tokens from now on."""

    revocation_id: UUID
    service: str
    applied_at: datetime


@event("consent.revocation-applied.v1")
class ConsentRevocationAppliedV1(RevocationAppliedBase):
    """Consent's API refuses the revoked tokens from now on."""


@event("timeline.revocation-applied.v1")
class TimelineRevocationAppliedV1(RevocationAppliedBase):
    """Timeline's API refuses the revoked tokens from now on."""


@event("notify.revocation-applied.v1")
class NotifyRevocationAppliedV1(RevocationAppliedBase):
    """Notify's API refuses the revoked tokens from now on."""


@event("portal.revocation-applied.v1")
class PortalRevocationAppliedV1(RevocationAppliedBase):
    """The portal's API refuses the revoked tokens from now on."""


@event("federation.revocation-applied.v1")
class FederationRevocationAppliedV1(RevocationAppliedBase):
    """Federation's API refuses the revoked tokens from now on."""


# Who acknowledges: every service whose worker keeps a deny list from identity's events. identity is not
# here: it writes its own entry in the transaction that revokes.
REVOCATION_APPLIED: dict[str, type[RevocationAppliedBase]] = {
    "consent": ConsentRevocationAppliedV1,
    "timeline": TimelineRevocationAppliedV1,
    "notify": NotifyRevocationAppliedV1,
    "portal": PortalRevocationAppliedV1,
    "federation": FederationRevocationAppliedV1,
}
