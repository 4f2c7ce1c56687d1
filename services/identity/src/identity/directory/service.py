"""Directory use cases: the public read, a facility's publication choices, the network's opt-in rule."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit
from yui_common.auth import Principal
from yui_common.problems import conflict, not_found

from identity.auth import FACILITY_ADMIN, OPERATOR, manages_network
from identity.directory import repository
from identity.directory.repository import LISTED_STATUSES
from identity.directory.schemas import (
    DirectoryEntry,
    DirectoryPage,
    DirectoryPolicy,
    PublicationRead,
    PublicationUpdate,
)
from identity.models import Facility, Network
from identity.networks.service import network_of
from identity.problems import forbidden


def _entry(facility: Facility) -> DirectoryEntry:
    return DirectoryEntry(
        id=facility.id,
        kind=facility.kind,
        name=facility.name if facility.publish_name else None,
        address=facility.address if facility.publish_address else None,
        phone=facility.phone if facility.publish_contact else None,
        status=facility.status if facility.publish_status else None,
    )


async def public_directory(
    session: AsyncSession, *, tenant: str, name: str = "", kind: str = "", address: str = ""
) -> DirectoryPage:
    """Anyone may read it. A search matches only published fields, so it never reveals the rest."""
    network = await network_of(session, tenant)
    rows = await repository.visible_facilities(
        session, network=network, name=name, kind=kind, address=address
    )
    return DirectoryPage(
        tenant=network.slug,
        network_name=network.name,
        opt_in_only=network.directory_opt_in_only,
        entries=[_entry(f) for f in rows],
    )


def _may_edit(principal: Principal, facility: Facility) -> bool:
    return principal.has_role(OPERATOR) or (
        principal.has_role(FACILITY_ADMIN) and principal.facility_id == facility.id
    )


async def _facility_for(
    session: AsyncSession, *, principal: Principal, facility_id: UUID, lock: bool
) -> Facility:
    facility = await session.get(Facility, facility_id, with_for_update=lock)
    if facility is None or facility.tenant != principal.tenant:
        raise not_found("facility")
    if not manages_network(principal) and principal.facility_id != facility.id:
        raise not_found("facility")
    return facility


def _publication(facility: Facility, network: Network) -> PublicationRead:
    visible = (
        facility.status in LISTED_STATUSES
        and facility.published
        and not facility.directory_withheld
        and (not network.directory_opt_in_only or facility.directory_opted_in_at is not None)
    )
    return PublicationRead(
        facility_id=facility.id,
        listed=facility.published,
        opted_in_at=facility.directory_opted_in_at,
        publish_name=facility.publish_name,
        publish_address=facility.publish_address,
        publish_contact=facility.publish_contact,
        publish_status=facility.publish_status,
        withheld_by_operator=facility.directory_withheld,
        withheld_reason=facility.directory_withheld_reason,
        network_opt_in_only=network.directory_opt_in_only,
        visible=visible,
    )


async def publication(session: AsyncSession, *, principal: Principal, facility_id: UUID) -> PublicationRead:
    facility = await _facility_for(session, principal=principal, facility_id=facility_id, lock=False)
    return _publication(facility, await network_of(session, facility.tenant))


async def change_publication(
    session: AsyncSession, *, principal: Principal, facility_id: UUID, changes: PublicationUpdate
) -> PublicationRead:
    facility = await _facility_for(session, principal=principal, facility_id=facility_id, lock=True)
    if not _may_edit(principal, facility):
        raise forbidden("Only the facility's administrator or the operator may.")
    updates = changes.model_dump(exclude_unset=True)
    if ("withheld_by_operator" in updates or "withheld_reason" in updates) and not principal.has_role(
        OPERATOR
    ):
        raise forbidden("Only the operator withholds a facility's entry.")
    if facility.status not in LISTED_STATUSES:
        raise conflict(f"The facility is {facility.status}.")
    if updates.get("listed") is not None:
        facility.published = bool(updates["listed"])
        # The facility's own yes, kept with its time: in an opt-in network only such entries are listed.
        if facility.published and facility.directory_opted_in_at is None:
            facility.directory_opted_in_at = datetime.now(UTC)
        if not facility.published:
            facility.directory_opted_in_at = None
    for field in ("publish_name", "publish_address", "publish_contact", "publish_status"):
        if updates.get(field) is not None:
            setattr(facility, field, bool(updates[field]))
    if updates.get("withheld_by_operator") is not None:
        facility.directory_withheld = bool(updates["withheld_by_operator"])
        facility.directory_withheld_reason = (
            updates.get("withheld_reason") if facility.directory_withheld else None
        )
    await audit.record_by(
        session,
        principal,
        action="facility.publication-changed",
        target=f"facility:{facility.id}",
        detail={k: v for k, v in updates.items() if k != "withheld_reason"},
    )
    return _publication(facility, await network_of(session, facility.tenant))


async def policy(session: AsyncSession, *, principal: Principal) -> DirectoryPolicy:
    return DirectoryPolicy(opt_in_only=(await network_of(session, principal.tenant)).directory_opt_in_only)


async def change_policy(
    session: AsyncSession, *, principal: Principal, changes: DirectoryPolicy
) -> DirectoryPolicy:
    if not principal.has_role(OPERATOR):
        raise forbidden("Only the operator sets the directory's policy.")
    network = await network_of(session, principal.tenant, for_update=True)
    network.directory_opt_in_only = changes.opt_in_only
    await audit.record_by(
        session,
        principal,
        action="network.directory-policy-changed",
        detail={"opt_in_only": changes.opt_in_only},
    )
    return DirectoryPolicy(opt_in_only=network.directory_opt_in_only)
