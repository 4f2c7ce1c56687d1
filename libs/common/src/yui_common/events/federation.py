"""Events published by the federation service: its part of a withdrawal's cascade, and each peer network's."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from yui_common.events import EventData, SupportStoppedBase, event


@event("federation.support-stopped.v1")
class FederationSupportStoppedV1(SupportStoppedBase):
    """Federation refuses every peer's fetch of the subject and has told each peer holding a referral of it to
    purge (``items_affected``: the referrals withdrawn). Each peer's own purge is a step of its own below."""


@event("federation.peer-withdrawal.v1")
class FederationPeerWithdrawalV1(EventData):
    """A peer network's part of a withdrawal's cascade (issue 12, fed3): ``done`` False when the peer was told
    to purge, True once its signed acknowledgement arrived. Consent shows each peer as a row of the cascade."""

    subject_id: UUID
    withdrawal_id: UUID
    peer: str  # the peer network's name, as the cascade view shows it
    done: bool
    items_affected: int | None = None
    at: datetime


@event("federation.shared-post.v1")
class FederationSharedPostV1(EventData):
    """A subject shared from another network has a new post the listed staff of this network may see (issue 12):
    notify tells them as it tells a care team. ``referral_id`` is this network's row of the referral."""

    referral_id: UUID
    user_ids: list[UUID]
    subject_name: str
    home_network_name: str
    category: str
    excerpt: str | None = None
    author_name: str | None = None
    author_label: str | None = None  # "name (profession, facility)" as home names them


@event("federation.shared-purged.v1")
class FederationSharedPurgedV1(EventData):
    """A referral ended or its subject's consent was withdrawn at home: nothing of it stays, notifications
    included (notify deletes the ones about it)."""

    referral_id: UUID
