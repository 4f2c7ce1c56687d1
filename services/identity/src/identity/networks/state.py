"""Telling every service what a network is now: one versioned event per change (yui_common.networks).

Identity applies the same state to its own projection in the changing transaction, so its API refuses a
suspended network's tokens on the very next request; the other services follow by event."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import networks, outbox
from yui_common.events.identity import NetworkStateV1

from identity.models import Network
from identity.networks import municipalities


def _label(code: str) -> str:
    found = municipalities.lookup(code)
    return found.label if found is not None else code


def state_fields(network: Network) -> dict[str, Any]:
    return {
        "slug": network.slug,
        "name": network.name,
        "status": network.status,
        "municipality_codes": list(network.municipality_codes),
        "municipality_names": [_label(code) for code in network.municipality_codes],
        "retention_years": network.retention_years,
        "withdrawal_mode": network.withdrawal_mode,
        "max_attachment_bytes": network.max_attachment_bytes,
        "discontinuation_notice_months": network.discontinuation_notice_months,
        "support_hours": network.support_hours,
        "operator_office": network.operator_office,
    }


async def publish_network_state(
    session: AsyncSession, network: Network, event: type[NetworkStateV1], **extra: Any
) -> NetworkStateV1:
    """Stage ``event`` with the network's whole state and the next version (the network's row is locked or
    new), and apply it to identity's own projection, in the caller's transaction."""
    network.state_version = (network.state_version or 0) + 1
    data = event(**state_fields(network), version=network.state_version, **extra)
    await outbox.add_event(session, data, tenant=network.slug)
    await networks.apply(session, network.slug, data)
    return data
