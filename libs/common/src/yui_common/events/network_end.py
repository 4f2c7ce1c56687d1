"""Ending a network (issue 11, ten4): identity's two requests and every service's reports.

Identity asks every service for its part of the network's export (``identity.network-export-requested.v1``) and,
once every part is in, for the deletion of every row and object of the network (``identity.network-ending.v1``).
Each service, identity's own worker included, answers each with a report of its own type
(``<svc>.network-exported.v1``, ``<svc>.network-ended.v1``), so each report's producer and routing key name the
service that sent it (as the withdrawal cascade's and the deny lists' acknowledgements do); identity tracks them
(identity.network_end). The work itself is yui_common.network_export.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from yui_common.events import EventData, event
from yui_common.events.identity import NetworkStateV1

# Every service that holds a part of a network: identity (its people and facilities) included.
PARTICIPANTS: tuple[str, ...] = ("identity", "consent", "timeline", "notify", "portal", "federation")


@event("identity.network-export-requested.v1")
class NetworkExportRequestedV1(EventData):
    """Each service writes its part of the (suspended) network's data as ``<prefix><service>.zip`` in ``bucket``."""

    operation_id: UUID
    slug: str
    bucket: str
    prefix: str  # exports/<slug>/<stamp>/
    requested_at: datetime


@event("identity.network-ending.v1")
class NetworkEndingV1(NetworkStateV1):
    """The network's data was exported: each service deletes every row and object of it, for good. Carries the
    network's state (status ``ending``) like the other network events, but no service's projection applies it:
    the deletion takes the projection's row too and keeps only the slug, in ``ended_networks``."""

    operation_id: UUID
    export_operation_id: UUID


class NetworkExportedBase(EventData):
    """A service wrote its part of a network's export (each service registers its own type)."""

    operation_id: UUID
    service: str
    key: str  # the part's object key in the export's bucket
    size: int
    sha256: str
    # Rows per table (and, where a service has them, "objects" copied with their bytes).
    counts: dict[str, int] = Field(default_factory=dict)
    completed_at: datetime


class NetworkEndedBase(EventData):
    """A service deleted every row and object of a network (each service registers its own type)."""

    operation_id: UUID
    service: str
    rows_deleted: dict[str, int] = Field(default_factory=dict)
    objects_deleted: int = 0
    audit_entries_erased: int = 0
    completed_at: datetime


@event("identity.network-exported.v1")
class IdentityNetworkExportedV1(NetworkExportedBase):
    """Identity's part: facilities, users (never a password hash, TOTP secret or key), sessions, reports."""


@event("consent.network-exported.v1")
class ConsentNetworkExportedV1(NetworkExportedBase):
    """Consent's part: subjects, consents and their forms, care teams, withdrawals, FHIR bundles."""


@event("timeline.network-exported.v1")
class TimelineNetworkExportedV1(NetworkExportedBase):
    """Timeline's part: posts with every version, attachments with their bytes, groups, read marks, FHIR."""


@event("notify.network-exported.v1")
class NotifyNetworkExportedV1(NetworkExportedBase):
    """Notify's part: notifications, preferences, deliveries."""


@event("portal.network-exported.v1")
class PortalNetworkExportedV1(NetworkExportedBase):
    """The portal's part: notices, terms and their acceptances, inquiries, settings."""


@event("federation.network-exported.v1")
class FederationNetworkExportedV1(NetworkExportedBase):
    """Federation's part: agreements, messages sent and received, referrals both ways, its projections."""


@event("identity.network-ended.v1")
class IdentityNetworkEndedV1(NetworkEndedBase):
    """Identity holds no row of the network but the network's own (status ended; its slug is never reused)."""


@event("consent.network-ended.v1")
class ConsentNetworkEndedV1(NetworkEndedBase):
    """Consent holds no row or consent form of the network."""


@event("timeline.network-ended.v1")
class TimelineNetworkEndedV1(NetworkEndedBase):
    """Timeline holds no row or stored object of the network."""


@event("notify.network-ended.v1")
class NotifyNetworkEndedV1(NetworkEndedBase):
    """Notify holds no row of the network."""


@event("portal.network-ended.v1")
class PortalNetworkEndedV1(NetworkEndedBase):
    """The portal holds no row of the network."""


@event("federation.network-ended.v1")
class FederationNetworkEndedV1(NetworkEndedBase):
    """Federation holds no row of the network (a peer holding its referrals was told nothing: the agreements end
    with it, and a peer's cache runs out within the agreement's limit)."""


NETWORK_EXPORTED: dict[str, type[NetworkExportedBase]] = {
    "identity": IdentityNetworkExportedV1,
    "consent": ConsentNetworkExportedV1,
    "timeline": TimelineNetworkExportedV1,
    "notify": NotifyNetworkExportedV1,
    "portal": PortalNetworkExportedV1,
    "federation": FederationNetworkExportedV1,
}
NETWORK_ENDED: dict[str, type[NetworkEndedBase]] = {
    "identity": IdentityNetworkEndedV1,
    "consent": ConsentNetworkEndedV1,
    "timeline": TimelineNetworkEndedV1,
    "notify": NotifyNetworkEndedV1,
    "portal": PortalNetworkEndedV1,
    "federation": FederationNetworkEndedV1,
}
