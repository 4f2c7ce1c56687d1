"""Events published by the notify service."""

from __future__ import annotations

from yui_common.events import SupportStoppedBase, event


@event("notify.support-stopped.v1")
class NotifySupportStoppedV1(SupportStoppedBase):
    """Notify has told the care team and stopped notifying about the subject."""
