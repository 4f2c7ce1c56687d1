"""The portal's consumer of identity's network events (queue portal.network-rules): the first terms of use of
a new network and the notice period; inbox-guarded like every consumer. (The network's status and rules as
every service keeps them are yui_common.networks' own consumer.)"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope, EventData
from yui_common.events.identity import NetworkCreatedV1, NetworkSettingsChangedV1, NetworkStateV1

from portal.networks import service


async def on_network_created(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
    assert isinstance(data, NetworkStateV1)
    await service.network_created(session, tenant=envelope.tenant, state=data)


async def on_settings_changed(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
    assert isinstance(data, NetworkStateV1)
    await service.apply_settings(session, tenant=envelope.tenant, state=data)


subscription = Subscription(
    queue="portal.network-rules",
    handlers={
        NetworkCreatedV1.event_type: on_network_created,
        NetworkSettingsChangedV1.event_type: on_settings_changed,
    },
)
