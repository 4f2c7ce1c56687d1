"""People use cases: publishing who a user is (identity.person-changed.v1), the staff directory. Never commits."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.identity import PersonChangedV1
from yui_common.people import PersonRef
from yui_common.problems import not_found

from identity import audit_trail
from identity.auth import FACILITY_ADMIN, OPERATOR, STAFF
from identity.models import Facility, User
from identity.people import repository
from identity.problems import forbidden

# Who may look colleagues up: the network's staff (to invite, mention, read who wrote what) and its operator.
DIRECTORY_ROLES = (STAFF, FACILITY_ADMIN, OPERATOR)


def person_ref(user: User, facility: Facility) -> PersonRef:
    return PersonRef(
        id=user.id,
        name=user.display_name,
        name_kana=user.name_kana,
        profession=user.profession,
        facility_id=facility.id,
        facility_name=facility.name,
        status=user.status,
    )


async def publish_person_changed(
    session: AsyncSession, user: User, *, facility: Facility | None = None
) -> None:
    """Stage identity.person-changed.v1 for the user as they are now, in the caller's transaction.

    Call it after every change of name, kana, profession, status or facility name (and on creation). The
    user's row should be locked (or new), so two changes never publish the same version."""
    if facility is None:
        facility = await session.get(Facility, user.facility_id)
        assert facility is not None, "a user always belongs to a facility"
    user.person_version = (user.person_version or 0) + 1
    await outbox.add_event(
        session,
        PersonChangedV1(
            user_id=user.id,
            name=user.display_name,
            name_kana=user.name_kana,
            profession=user.profession or "other",
            facility_id=facility.id,
            facility_name=facility.name,
            status=user.status,
            version=user.person_version,
        ),
        tenant=user.tenant,
    )


async def publish_facility_people(session: AsyncSession, facility: Facility) -> None:
    """The facility's name changed: every one of its users reads differently now."""
    for user in await repository.users_of_facility_for_update(session, facility_id=facility.id):
        await publish_person_changed(session, user, facility=facility)


async def republish_people(session: AsyncSession, *, tenant: str | None = None) -> int:
    """Publish every user again with a new version (a backfill for the services' projections); how many."""
    facilities: dict[UUID, Facility] = {}
    users = await repository.users_for_republishing(session, tenant=tenant)
    for user in users:
        if user.facility_id not in facilities:
            facility = await session.get(Facility, user.facility_id)
            assert facility is not None
            facilities[user.facility_id] = facility
        await publish_person_changed(session, user, facility=facilities[user.facility_id])
    return len(users)


def _require_directory_reader(principal: Principal) -> None:
    if principal.facility_id is None or not any(principal.has_role(role) for role in DIRECTORY_ROLES):
        raise forbidden("Only the network's staff may search its people.")


async def search_people(
    session: AsyncSession,
    *,
    principal: Principal,
    q: str,
    facility_id: UUID | None,
    profession: str | None,
    limit: int,
) -> list[PersonRef]:
    """The staff directory: active colleagues of the caller's network by name or kana, facility, profession.

    The network's ``directory_opt_in_only`` is about the public facility directory (P1) and does not apply:
    this list is only for the network's own signed-in staff, who must be able to find each other."""
    _require_directory_reader(principal)
    rows = await repository.search(
        session, tenant=principal.tenant, q=q, facility_id=facility_id, profession=profession, limit=limit
    )
    await audit_trail.record(
        session,
        "people.searched",
        by=principal,
        facility_id=principal.facility_id,
        detail={
            "q": q,
            "facility_id": str(facility_id) if facility_id else None,
            "profession": profession,
            "results": len(rows),
        },
    )
    return [person_ref(user, facility) for user, facility in rows]


async def get_person(session: AsyncSession, *, principal: Principal, user_id: UUID) -> PersonRef:
    """One person of the caller's network, whatever their status (a post's author may have left since)."""
    _require_directory_reader(principal)
    row = await repository.person(session, tenant=principal.tenant, user_id=user_id)
    if row is None:
        raise not_found("person")
    user, facility = row
    await audit_trail.record(session, "person.read", by=principal, on=user)
    return person_ref(user, facility)
