"""Network use cases: reading and changing the network's own settings. Never commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal
from yui_common.events.identity import NetworkSettingsChangedV1
from yui_common.problems import Problem, not_found

from identity import audit_trail
from identity.models import Network
from identity.networks import municipalities, repository
from identity.networks.schemas import NetworkSettings
from identity.networks.state import publish_network_state, state_fields


async def network_of(session: AsyncSession, tenant: str, *, for_update: bool = False) -> Network:
    network = await repository.network(session, tenant, for_update=for_update)
    if network is None:
        raise not_found("network")
    return network


async def network_settings(session: AsyncSession, *, principal: Principal) -> Network:
    return await network_of(session, principal.tenant)


async def update_network_settings(
    session: AsyncSession, *, principal: Principal, changes: NetworkSettings
) -> Network | Problem:
    """The operator changes the network's rules. Password-only sign-in is refused (returned, so its audit
    entry commits) unless the demo seed created the network: S1 holds for real staff."""
    network = await network_of(session, principal.tenant, for_update=True)
    updates = changes.model_dump(exclude_unset=True, exclude_none=True)
    if "password_max_age_days" in changes.model_fields_set:  # null is a value here: no periodic change
        updates["password_max_age_days"] = changes.password_max_age_days
    if updates.get("password_only_allowed") and not network.created_as_demo:
        await audit_trail.record(
            session,
            "network.settings-refused",
            by=principal,
            detail={"password_only_allowed": "True", "reason": "not-a-demo-network"},
        )
        return Problem(
            409,
            "password-only-not-allowed",
            "Password-only sign-in is for demo networks",
            "Staff sign in with a password and a second factor (TOTP or a client certificate); only a network "
            "created as a demo may let a password sign in by itself.",
        )
    if "municipality_codes" in updates:  # ten5: each code checked against the national table (422 with why)
        updates["municipality_codes"] = [
            m.code for m in municipalities.validate_all(updates["municipality_codes"])
        ]
    before = state_fields(network)
    for name, value in updates.items():
        setattr(network, name, value)
    await audit_trail.record(
        session, "network.settings-changed", by=principal, detail={k: str(v) for k, v in updates.items()}
    )
    if state_fields(network) != before:
        # What other services apply (withdrawal mode, retention, attachment limit, municipalities, notice).
        await publish_network_state(session, network, NetworkSettingsChangedV1)
    return network
