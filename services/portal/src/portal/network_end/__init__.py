"""The portal's part of ending a network (issue 11, ten4; yui_common.network_export): every table of the network
as JSON (notices, terms and their acceptances, inquiries, settings, maintenance switches), then the deletion of
every row of it (queue portal.network-end)."""

from __future__ import annotations

from yui_common.bus.consumer import Subscription
from yui_common.network_export import TenantScope
from yui_common.network_export import subscription as network_end_subscription
from yui_common.settings import CommonSettings

from portal.models import Base

SCOPE = TenantScope(
    service="portal",
    metadata=Base.metadata,
    # A network's maintenance switches name it as their scope (the deployment-wide ones name no network).
    network_columns={"maintenance_switches": "scope"},
)


def subscription(settings: CommonSettings) -> Subscription:
    return network_end_subscription(SCOPE, settings)
