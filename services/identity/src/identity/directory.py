"""The public facility directory (P1): publication choices, the operator's veto, the public read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, and_, case, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit
from yui_common.auth import Principal
from yui_common.problems import Problem, conflict, not_found

from identity.models import Facility, Network

OPERATOR, CONTRACTOR, FACILITY_ADMIN = "operator", "contractor", "facility_admin"
# Member facilities only: applicants and rejected, withdrawn or abolished facilities are not listed.
LISTED_STATUSES = ("active", "suspended")


class DirectoryEntry(BaseModel):
    """One facility as the public sees it: a field the facility did not agree to publish is absent (None)."""

    id: UUID
    kind: str
    name: str | None = None
    address: str | None = None
    phone: str | None = None
    status: str | None = None


class DirectoryPage(BaseModel):
    tenant: str
    network_name: str
    opt_in_only: bool
    entries: list[DirectoryEntry]


class PublicationRead(BaseModel):
    facility_id: UUID
    listed: bool
    opted_in_at: datetime | None
    publish_name: bool
    publish_address: bool
    publish_contact: bool
    publish_status: bool
    withheld_by_operator: bool
    withheld_reason: str | None
    network_opt_in_only: bool
    # What the public directory shows now, given all of the above.
    visible: bool


class PublicationUpdate(BaseModel):
    """The facility's choices (its administrator or the operator) and the operator's veto (operator only)."""

    model_config = ConfigDict(extra="forbid")
    listed: bool | None = None
    publish_name: bool | None = None
    publish_address: bool | None = None
    publish_contact: bool | None = None
    publish_status: bool | None = None
    withheld_by_operator: bool | None = None
    withheld_reason: str | None = Field(default=None, min_length=1, max_length=2000)


class DirectoryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)
    opt_in_only: bool


def _visible_clause(network: Network) -> list[object]:
    clauses: list[object] = [
        Facility.tenant == network.slug,
        Facility.status.in_(LISTED_STATUSES),
        Facility.published.is_(true()),
        Facility.directory_withheld.is_(false()),
    ]
    if network.directory_opt_in_only:
        clauses.append(Facility.directory_opted_in_at.is_not(None))
    return clauses


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
    network = await session.get(Network, tenant)
    if network is None:
        raise not_found("network")
    stmt: Select[tuple[Facility]] = select(Facility).where(*_visible_clause(network))  # type: ignore[arg-type]
    if name:
        stmt = stmt.where(
            and_(Facility.publish_name.is_(true()), Facility.name.icontains(name, autoescape=True))
        )
    if kind:
        stmt = stmt.where(Facility.kind == kind)
    if address:
        stmt = stmt.where(
            and_(Facility.publish_address.is_(true()), Facility.address.icontains(address, autoescape=True))
        )
    # Facilities that hide their name sort after the named ones, by kind, never by the hidden name.
    shown_name = case((Facility.publish_name.is_(true()), Facility.name), else_=None)
    stmt = stmt.order_by(Facility.publish_name.desc(), shown_name, Facility.kind, Facility.id).limit(500)
    rows: Sequence[Facility] = (await session.execute(stmt)).scalars().all()
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
    manages = principal.has_role(OPERATOR) or principal.has_role(CONTRACTOR)
    if not manages and principal.facility_id != facility.id:
        raise not_found("facility")
    return facility


async def _network(session: AsyncSession, tenant: str) -> Network:
    network = await session.get(Network, tenant)
    if network is None:
        raise not_found("network")
    return network


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
    return _publication(facility, await _network(session, facility.tenant))


async def change_publication(
    session: AsyncSession, *, principal: Principal, facility_id: UUID, changes: PublicationUpdate
) -> PublicationRead:
    facility = await _facility_for(session, principal=principal, facility_id=facility_id, lock=True)
    if not _may_edit(principal, facility):
        raise Problem(403, "forbidden", "Forbidden", "Only the facility's administrator or the operator may.")
    updates = changes.model_dump(exclude_unset=True)
    if ("withheld_by_operator" in updates or "withheld_reason" in updates) and not principal.has_role(
        OPERATOR
    ):
        raise Problem(403, "forbidden", "Forbidden", "Only the operator withholds a facility's entry.")
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
    return _publication(facility, await _network(session, facility.tenant))


async def policy(session: AsyncSession, *, principal: Principal) -> DirectoryPolicy:
    if not (principal.has_role(OPERATOR) or principal.has_role(CONTRACTOR)):
        raise Problem(403, "forbidden", "Forbidden", "Your role may not do this.")
    return DirectoryPolicy(opt_in_only=(await _network(session, principal.tenant)).directory_opt_in_only)


async def change_policy(
    session: AsyncSession, *, principal: Principal, changes: DirectoryPolicy
) -> DirectoryPolicy:
    if not principal.has_role(OPERATOR):
        raise Problem(403, "forbidden", "Forbidden", "Only the operator sets the directory's policy.")
    network = await session.get(Network, principal.tenant, with_for_update=True)
    if network is None:
        raise not_found("network")
    network.directory_opt_in_only = changes.opt_in_only
    await audit.record_by(
        session,
        principal,
        action="network.directory-policy-changed",
        detail={"opt_in_only": changes.opt_in_only},
    )
    return DirectoryPolicy(opt_in_only=network.directory_opt_in_only)
