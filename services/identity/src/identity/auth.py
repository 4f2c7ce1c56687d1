"""Who may call what: identity's roles, the role dependencies routers declare, and each principal's reach."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import CurrentPrincipal, Principal
from yui_common.problems import not_found

from identity.models import Facility, User
from identity.problems import forbidden

OPERATOR, CONTRACTOR, FACILITY_ADMIN, STAFF = "operator", "contractor", "facility_admin", "staff"
# They run the whole network: they see every facility, user and certificate of it.
NETWORK_ROLES = frozenset({OPERATOR, CONTRACTOR})


def manages_network(principal: Principal) -> bool:
    return bool(NETWORK_ROLES & principal.roles)


def require_role(principal: Principal, *roles: str) -> None:
    if not any(principal.has_role(role) for role in roles):
        raise forbidden()


def requiring(*roles: str, detail: str = "Your role may not do this.") -> Callable[..., Awaitable[Principal]]:
    """A dependency that refuses (403) a signed-in principal holding none of the roles."""

    async def principal_with_role(principal: CurrentPrincipal) -> Principal:
        if not any(principal.has_role(role) for role in roles):
            raise forbidden(detail)
        return principal

    return principal_with_role


async def facility_administrator(principal: CurrentPrincipal) -> Principal:
    """Refuses (403) anyone but an administrator of some facility; which facility is the use case's rule."""
    # 403, not 404: the endpoint's existence is public (OpenAPI) and the refusal names no resource.
    if not principal.has_role(FACILITY_ADMIN) or principal.facility_id is None:
        raise forbidden("Only a facility administrator may do this.")
    return principal


NetworkManagerPrincipal = Annotated[Principal, Depends(requiring(OPERATOR, CONTRACTOR))]
OperatorPrincipal = Annotated[Principal, Depends(requiring(OPERATOR))]
FacilityAdminPrincipal = Annotated[Principal, Depends(facility_administrator)]


async def facility_in_reach(session: AsyncSession, *, principal: Principal, facility_id: UUID) -> Facility:
    """Locked; operators and contractors reach their network's facilities, others only their own; else 404."""
    facility = await session.get(Facility, facility_id, with_for_update=True)
    if facility is None or facility.tenant != principal.tenant:
        raise not_found("facility")
    if not manages_network(principal) and facility.id != principal.facility_id:
        raise not_found("facility")
    return facility


async def user_in_reach(session: AsyncSession, *, principal: Principal, user_id: UUID) -> User:
    """Operators and contractors reach their network's users, an administrator their facility's; else 404."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None or user.tenant != principal.tenant:
        raise not_found("user")
    if manages_network(principal):
        return user
    if principal.has_role(FACILITY_ADMIN) and user.facility_id == principal.facility_id:
        return user
    raise not_found("user")
