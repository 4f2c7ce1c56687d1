"""Notify's part of ending a network (issue 11, ten4; yui_common.network_export): every table of the network as
JSON (notifications, preferences, deliveries, its projections), then the deletion of every row of it (queue
notify.network-end)."""

from __future__ import annotations

from yui_common.bus.consumer import Subscription
from yui_common.network_export import Child, TenantScope
from yui_common.network_export import subscription as network_end_subscription
from yui_common.settings import CommonSettings

from notify.models import Base

SCOPE = TenantScope(
    service="notify",
    metadata=Base.metadata,
    children={
        # A held facility's users are the network's accounts; a stopped subject is one of its subjects.
        "facility_holds": Child("facility_id", "accounts", "facility_id"),
        "stopped_subjects": Child("subject_id", "subjects", "subject_id"),
    },
)


def subscription(settings: CommonSettings) -> Subscription:
    return network_end_subscription(SCOPE, settings)
