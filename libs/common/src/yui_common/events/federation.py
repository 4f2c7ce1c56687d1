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
