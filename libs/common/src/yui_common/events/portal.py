"""Events published by the portal service."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from yui_common.events import EventData, event

# MaintenanceChangedV1.scope for a switch that covers every network of the deployment.
ALL_NETWORKS = "*"


@event("portal.maintenance-changed.v1")
class MaintenanceChangedV1(EventData):
    """The maintenance mode was switched on or off, for one network or (scope "*") the whole deployment.

    While it is on, the portal answers staff pages and state-changing calls with 503. Other services may
    react (notify tells users; a service may refuse writes); the envelope's tenant is the network, or the
    deployment's default network when the scope is "*".
    """

    scope: str
    active: bool
    reason: str
    switched_by_role: str
    switched_at: datetime
    expected_end: datetime | None = None


@event("portal.notice-published.v1")
class NoticePublishedV1(EventData):
    """The operator posted a notice (P2–P4): notify tells the network's users in the app.

    Carries the title only; the body stays on the portal, where the reader's right to see it is checked.
    """

    notice_id: UUID
    kind: str
    audience: str
    title: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
