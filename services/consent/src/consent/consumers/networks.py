"""Identity's network events into consent's own network rules (queue consent.network-rules): the municipalities
whose residents a network may register (C1) and what a withdrawal does there (C4).

The events reach this queue and the generic projection's (yui_common.networks, consent.networks) in any order:
this handler applies the event to the projection too (an upsert by version, so a no-op when the other came
first) and then writes consent's tables from the newest state the projection holds. The projection's row lock
serialises two handlers of one network, so the tables always end at the newest version."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import networks
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope, EventData
from yui_common.events.identity import NetworkStateV1

from consent.models import Network, NetworkMunicipality


async def apply_network_rules(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
    assert isinstance(data, NetworkStateV1)
    tenant = envelope.tenant
    await networks.apply(session, tenant, data)
    state = await networks.state_of(session, tenant) or data
    network = await session.get(Network, tenant, with_for_update=True)
    if network is None:
        network = Network(tenant=tenant, name=state.name, withdrawal_mode=state.withdrawal_mode)
        session.add(network)
    network.name, network.withdrawal_mode = state.name, state.withdrawal_mode
    await session.flush()
    await session.execute(delete(NetworkMunicipality).where(NetworkMunicipality.tenant == tenant))
    names = state.municipality_names or state.municipality_codes
    for code, name in zip(state.municipality_codes, names, strict=False):
        session.add(NetworkMunicipality(tenant=tenant, municipality_code=code, name=name[:100]))
    await session.flush()


subscription = Subscription(
    queue="consent.network-rules",
    handlers={event.event_type: apply_network_rules for event in networks.NETWORK_EVENTS},
)
