"""A network's rules for its timeline (attachment size limit, retention years): the network's own as identity
last announced them (yui_common.networks' projection, fed by identity.network-*.v1), else the settings'
per-network override or default (networks identity never announced: the demo seed's)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import networks
from yui_common.events.identity import NetworkStateV1

from timeline.settings import NetworkPolicy, Settings

_ALL_STATES = sa.text("SELECT state FROM network_states")


def _policy(state: NetworkStateV1) -> NetworkPolicy:
    return NetworkPolicy(max_upload_bytes=state.max_attachment_bytes, retention_years=state.retention_years)


async def policy_for(session: AsyncSession, settings: Settings, tenant: str) -> NetworkPolicy:
    state = await networks.state_of(session, tenant)
    return _policy(state) if state is not None else settings.policy_for(tenant)


async def all_policies(session: AsyncSession, settings: Settings) -> dict[str, NetworkPolicy]:
    """Every network's policy this service knows of (the settings' overrides, then the announced ones)."""
    found = dict(settings.network_policies)
    for (raw,) in (await session.execute(_ALL_STATES)).all():
        state = (
            NetworkStateV1.model_validate_json(raw)
            if isinstance(raw, str | bytes)
            else NetworkStateV1.model_validate(raw)
        )
        found[state.slug] = _policy(state)
    return found
