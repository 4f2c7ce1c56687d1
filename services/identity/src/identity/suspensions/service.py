"""Suspension use cases: suspend a user or facility, acknowledge a contractor's report, lift. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal
from yui_common.events.identity import (
    FacilityDisabledV1,
    FacilityReinstatedV1,
    UserReinstatedV1,
    UserSuspendedV1,
)
from yui_common.problems import conflict, not_found

from identity import audit_trail
from identity.accounts import repository as accounts
from identity.auth import CONTRACTOR, OPERATOR, facility_in_reach, user_in_reach
from identity.models import Facility, Suspension, User
from identity.people.service import publish_person_changed
from identity.problems import forbidden
from identity.revocations import service as revocations
from identity.sessions.service import end_sessions_of
from identity.suspensions import repository


def _now() -> datetime:
    return datetime.now(UTC)


async def suspend(
    session: AsyncSession,
    *,
    principal: Principal,
    target_kind: str,
    target_id: UUID,
    reason: str,
    emergency: bool,
) -> Suspension:
    """The operator suspends; a contractor only in an emergency, filing a report the operator acknowledges."""
    if principal.has_role(OPERATOR):
        role = OPERATOR
    elif principal.has_role(CONTRACTOR) and emergency:
        role = CONTRACTOR
    elif principal.has_role(CONTRACTOR):
        raise forbidden("A contractor suspends only in an emergency (emergency: true, with the reason).")
    else:
        raise forbidden()
    now = _now()
    actor = str(principal.user_id)
    if target_kind == "user":
        user = await user_in_reach(session, principal=principal, user_id=target_id)
        if user.status != "active":
            raise conflict(f"The user is {user.status}.")
        user.status = "suspended"
        await publish_person_changed(session, user)
        await end_sessions_of(session, user_id=user.id, reason="account-suspended", actor_id=actor)
        await revocations.revoke_everywhere(
            session,
            UserSuspendedV1(user_id=user.id, reason=reason, facility_id=user.facility_id, suspended_at=now),
            tenant=user.tenant,
            reason="user-suspended",
            requested_by=actor,
        )
    else:
        facility = await facility_in_reach(session, principal=principal, facility_id=target_id)
        if facility.status != "active":
            raise conflict(f"The facility is {facility.status}.")
        facility.status = "suspended"
        for user in await accounts.active_users_of_facility(session, facility_id=facility.id):
            await end_sessions_of(session, user_id=user.id, reason="facility-suspended", actor_id=actor)
        await revocations.revoke_everywhere(
            session,
            FacilityDisabledV1(facility_id=facility.id, reason="suspended", disabled_at=now),
            tenant=facility.tenant,
            reason="facility-suspended",
            requested_by=actor,
        )
    suspension = Suspension(
        tenant=principal.tenant,
        target_kind=target_kind,
        target_id=target_id,
        reason=reason,
        emergency=emergency,
        suspended_by=principal.user_id,
        suspended_by_role=role,
        created_at=now,
        needs_acknowledgement=role == CONTRACTOR,
    )
    session.add(suspension)
    await session.flush()
    await audit_trail.record(
        session,
        f"{target_kind}.suspended",
        by=principal,
        target=f"{target_kind}:{target_id}",
        detail={"reason": reason, "emergency": emergency, "suspension_id": str(suspension.id)},
    )
    return suspension


async def _suspension_in_reach(
    session: AsyncSession, *, principal: Principal, suspension_id: UUID
) -> Suspension:
    suspension = await session.get(Suspension, suspension_id, with_for_update=True)
    if suspension is None or suspension.tenant != principal.tenant:
        raise not_found("suspension")
    return suspension


async def list_suspensions(
    session: AsyncSession, *, principal: Principal, open_only: bool
) -> list[Suspension]:
    return list(await repository.suspensions(session, tenant=principal.tenant, open_only=open_only))


async def acknowledge_suspension(
    session: AsyncSession, *, principal: Principal, suspension_id: UUID
) -> Suspension:
    suspension = await _suspension_in_reach(session, principal=principal, suspension_id=suspension_id)
    if not suspension.needs_acknowledgement or suspension.acknowledged_at is not None:
        raise conflict("Nothing to acknowledge.")
    suspension.acknowledged_at, suspension.acknowledged_by = _now(), principal.user_id
    await audit_trail.record(
        session, "suspension.acknowledged", by=principal, target=f"suspension:{suspension.id}"
    )
    return suspension


async def lift_suspension(session: AsyncSession, *, principal: Principal, suspension_id: UUID) -> Suspension:
    """Reinstatement: the target is active again once no other suspension of it is open."""
    suspension = await _suspension_in_reach(session, principal=principal, suspension_id=suspension_id)
    if suspension.lifted_at is not None:
        raise conflict("The suspension was already lifted.")
    suspension.lifted_at, suspension.lifted_by = _now(), principal.user_id
    await session.flush()
    still_open = await repository.open_suspensions_of(
        session, target_kind=suspension.target_kind, target_id=suspension.target_id
    )
    if not still_open:
        if suspension.target_kind == "user":
            user = await session.get(User, suspension.target_id, with_for_update=True)
            if user is not None and user.status == "suspended":
                user.status = "active"
                await publish_person_changed(session, user)
                await revocations.announce(
                    session,
                    UserReinstatedV1(user_id=user.id, facility_id=user.facility_id),
                    tenant=user.tenant,
                )
        else:
            facility = await session.get(Facility, suspension.target_id, with_for_update=True)
            if facility is not None and facility.status == "suspended":
                facility.status = "active"
                await revocations.announce(
                    session, FacilityReinstatedV1(facility_id=facility.id), tenant=facility.tenant
                )
    await audit_trail.record(
        session, "suspension.lifted", by=principal, target=f"{suspension.target_kind}:{suspension.target_id}"
    )
    return suspension
