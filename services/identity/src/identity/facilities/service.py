"""Facility use cases: apply, review, change, withdraw, abolish. Never commits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.identity import (
    FacilityApplicationDecidedV1,
    FacilityAppliedV1,
    FacilityApprovedV1,
    FacilityDisabledV1,
    FacilityRejectedV1,
    FacilityWithdrawnV1,
    UserCreatedV1,
)
from yui_common.problems import conflict

from identity import audit_trail
from identity.accounts import repository as accounts
from identity.accounts.service import disable_account
from identity.auth import FACILITY_ADMIN, OPERATOR, STAFF, facility_in_reach, manages_network
from identity.certificates import service as certificates
from identity.directory import service as directory
from identity.facilities import repository
from identity.facilities.schemas import Approval, FacilityApplication, FacilityRead, FacilityUpdate
from identity.models import Facility, User
from identity.networks.service import network_of
from identity.passwords import hash_password, initial_password
from identity.people.service import publish_facility_people, publish_person_changed
from identity.problems import forbidden
from identity.revocations import service as revocations


def _now() -> datetime:
    return datetime.now(UTC)


async def apply_for_facility(session: AsyncSession, *, application: FacilityApplication) -> Facility:
    """The portal's public application form: the facility waits for the operator's review.

    The administrator's login ID is not checked here: a public form that said "taken" would tell anyone which
    login IDs exist (to guess passwords for). It is settled at approval, where the operator sees a clash
    (login-id-taken) and asks the applicant for another.
    """
    await network_of(session, application.tenant)
    now = _now()
    facility = Facility(
        tenant=application.tenant,
        name=application.name,
        kind=application.kind,
        status="applied",
        address=application.address,
        phone=application.phone,
        administrator_name=application.administrator_name,
        administrator_email=application.administrator_email,
        administrator_login_id=application.administrator_login_id,
        pledge_accepted_at=now,
        applied_at=now,
    )
    session.add(facility)
    await session.flush()
    await audit_trail.record(
        session, "facility.applied", by=f"applicant:{application.administrator_email}", on=facility
    )
    await outbox.add_event(
        session,
        FacilityAppliedV1(facility_id=facility.id, name=facility.name, kind=facility.kind),
        tenant=facility.tenant,
    )
    return facility


async def list_facilities(
    session: AsyncSession, *, principal: Principal, status: str | None
) -> list[Facility]:
    if manages_network(principal):
        return list(await repository.facilities(session, tenant=principal.tenant, status=status))
    own = await session.get(Facility, principal.facility_id) if principal.facility_id else None
    return (
        [own] if own is not None and own.tenant == principal.tenant and status in (None, own.status) else []
    )


async def get_facility(session: AsyncSession, *, principal: Principal, facility_id: UUID) -> Facility:
    facility = await facility_in_reach(session, principal=principal, facility_id=facility_id)
    # The entry names its administrator and their contact: personal data, so the read is on record (S2).
    await audit_trail.record(session, "facility.read", by=principal, on=facility)
    return facility


async def approve_application(session: AsyncSession, *, principal: Principal, facility_id: UUID) -> Approval:
    """Register the facility, create its administrator's account and a certificate access code (I1, I2)."""
    facility = await facility_in_reach(session, principal=principal, facility_id=facility_id)
    if facility.status != "applied":
        raise conflict(f"The application was already decided ({facility.status}).")
    assert facility.administrator_login_id and facility.administrator_name and facility.administrator_email
    # The public form does not check the login ID (it would tell anyone which exist): here the operator sees it.
    taken = f"The login id {facility.administrator_login_id!r} is already someone's; reject the application "
    taken += "and ask the applicant for another."
    if await accounts.login_id_of_a_user(
        session, tenant=facility.tenant, login_id=facility.administrator_login_id
    ):
        raise conflict(taken, slug="login-id-taken")
    password = initial_password()
    administrator = User(
        tenant=facility.tenant,
        facility_id=facility.id,
        login_id=facility.administrator_login_id,
        display_name=facility.administrator_name,
        password_hash=await asyncio.to_thread(hash_password, password),
        roles=[FACILITY_ADMIN, STAFF],
        must_change_password=True,
        person_version=0,
    )
    try:
        # Added inside the savepoint: entering it flushes what is pending, outside its protection.
        async with session.begin_nested():
            session.add(administrator)
            await session.flush()
    except IntegrityError:  # taken meanwhile by a concurrent approval or account
        raise conflict(taken, slug="login-id-taken") from None
    facility.status = "active"
    facility.decided_at = _now()
    facility.decided_by = principal.user_id
    actor = str(principal.user_id)
    grant = await certificates.issue_access_code(
        session, facility_id=facility.id, administrator_user_id=administrator.id, actor_id=actor
    )
    await audit_trail.record(session, "facility.approved", by=actor, on=facility)
    for data in (
        FacilityApprovedV1(
            facility_id=facility.id,
            name=facility.name,
            kind=facility.kind,
            administrator_user_id=administrator.id,
        ),
        UserCreatedV1(user_id=administrator.id, facility_id=facility.id, roles=list(administrator.roles)),
        FacilityApplicationDecidedV1(
            facility_id=facility.id,
            facility_name=facility.name,
            decision="approved",
            administrator_name=facility.administrator_name,
            administrator_email=facility.administrator_email,
            administrator_login_id=administrator.login_id,
        ),
    ):
        await outbox.add_event(session, data, tenant=facility.tenant)
    await publish_person_changed(session, administrator, facility=facility)
    return Approval(
        facility=FacilityRead.model_validate(facility),
        administrator_user_id=administrator.id,
        administrator_login_id=administrator.login_id,
        initial_password=password,
        access_code=grant.access_code,
        access_code_pin=grant.pin,
        access_code_expires_at=grant.expires_at,
    )


async def reject_application(
    session: AsyncSession, *, principal: Principal, facility_id: UUID, reason: str
) -> Facility:
    facility = await facility_in_reach(session, principal=principal, facility_id=facility_id)
    if facility.status != "applied":
        raise conflict(f"The application was already decided ({facility.status}).")
    facility.status = "rejected"
    facility.rejection_reason = reason
    facility.decided_at = _now()
    facility.decided_by = principal.user_id
    await audit_trail.record(
        session, "facility.rejected", by=principal, on=facility, detail={"reason": reason}
    )
    await outbox.add_event(
        session, FacilityRejectedV1(facility_id=facility.id, reason=reason), tenant=facility.tenant
    )
    await outbox.add_event(
        session,
        FacilityApplicationDecidedV1(
            facility_id=facility.id,
            facility_name=facility.name,
            decision="rejected",
            reason=reason,
            administrator_name=facility.administrator_name or "",
            administrator_email=facility.administrator_email or "",
        ),
        tenant=facility.tenant,
    )
    return facility


async def update_facility(
    session: AsyncSession, *, principal: Principal, facility_id: UUID, changes: FacilityUpdate
) -> Facility:
    facility = await facility_in_reach(session, principal=principal, facility_id=facility_id)
    if not (
        principal.has_role(OPERATOR)
        or (principal.has_role(FACILITY_ADMIN) and facility.id == principal.facility_id)
    ):
        raise forbidden()
    if facility.status not in ("active", "suspended"):
        raise conflict(f"The facility is {facility.status}.")
    updates = changes.model_dump(exclude_unset=True, exclude_none=True, exclude={"publication"})
    renamed = "name" in updates and updates["name"] != facility.name
    for name, value in updates.items():
        setattr(facility, name, value)
    if renamed:
        # Every user of the facility is shown as "name (profession, facility)" by the other services.
        await publish_facility_people(session, facility)
    await audit_trail.record(
        session, "facility.changed", by=principal, on=facility, detail={"fields": sorted(updates)}
    )
    if changes.publication is not None:
        await directory.change_publication(
            session, principal=principal, facility_id=facility.id, changes=changes.publication
        )
    return facility


async def _close_facility(session: AsyncSession, facility: Facility, *, status: str, actor_id: str) -> None:
    """Withdrawal and abolition: users disabled, sessions ended, certificates revoked, tokens refused."""
    now = _now()
    facility.status = status
    facility.ended_at = now
    for user in await accounts.active_users_of_facility(session, facility_id=facility.id):
        await disable_account(
            session, user, reason=f"facility-{status}", actor_id=actor_id, revoke_certificates=False
        )
    await certificates.revoke_certificates(
        session,
        tenant=facility.tenant,
        facility_id=facility.id,
        reason="facility_withdrawn",
        actor_id=actor_id,
        note=status,
    )
    await revocations.revoke_everywhere(
        session,
        FacilityDisabledV1(facility_id=facility.id, reason=status, disabled_at=now),
        tenant=facility.tenant,
        reason=f"facility-{status}",
        requested_by=actor_id,
    )


async def withdraw_facility(session: AsyncSession, *, principal: Principal, facility_id: UUID) -> Facility:
    """The facility's administrator asks to stop using the network (I6)."""
    facility = await facility_in_reach(session, principal=principal, facility_id=facility_id)
    if not (principal.has_role(FACILITY_ADMIN) and facility.id == principal.facility_id):
        raise forbidden("Only the facility's administrator applies for its withdrawal.")
    if facility.status not in ("active", "suspended"):
        raise conflict(f"The facility is {facility.status}.")
    actor = str(principal.user_id)
    await _close_facility(session, facility, status="withdrawn", actor_id=actor)
    await audit_trail.record(session, "facility.withdrawn", by=actor, on=facility)
    await outbox.add_event(
        session,
        FacilityWithdrawnV1(facility_id=facility.id, withdrawn_at=facility.ended_at or _now()),
        tenant=facility.tenant,
    )
    return facility


async def abolish_facility(
    session: AsyncSession, *, principal: Principal, facility_id: UUID, reason: str
) -> Facility:
    """The operator ends a facility's registration for prohibited acts, without notice (I9, Ni27-2)."""
    facility = await facility_in_reach(session, principal=principal, facility_id=facility_id)
    if facility.status not in ("active", "suspended"):
        raise conflict(f"The facility is {facility.status}.")
    actor = str(principal.user_id)
    await _close_facility(session, facility, status="abolished", actor_id=actor)
    await audit_trail.record(session, "facility.abolished", by=actor, on=facility, detail={"reason": reason})
    return facility
