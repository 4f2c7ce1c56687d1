"""Identity's audit entries in one call: who did what, to which facility, user, report or certificate."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit
from yui_common.auth import Principal

from identity.models import ClientCertificate, Facility, IncidentReport, User

Audited = Facility | User | IncidentReport | ClientCertificate
_TARGET_KINDS: dict[type, str] = {
    Facility: "facility",
    User: "user",
    IncidentReport: "incident",
    ClientCertificate: "certificate",
}


async def record(
    session: AsyncSession,
    action: str,
    *,
    by: Principal | str,
    on: Audited | None = None,
    tenant: str | None = None,
    facility_id: UUID | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Stage an entry in the caller's transaction.

    ``by`` is the acting principal or an actor id ("system", "login:<id>"); ``on`` the row acted on, which
    names the target, the facility it belongs to and its network. Without ``on`` the target and facility are
    given as they are (or left out) and the network is the principal's.
    """
    if on is not None:
        facility_id = on.id if isinstance(on, Facility) else on.facility_id
        target = f"{_TARGET_KINDS[type(on)]}:{on.id}"
        tenant = tenant or on.tenant
    if isinstance(by, str):
        actor_id = by
    else:
        actor_id, tenant = str(by.user_id), tenant or by.tenant
    assert tenant is not None, "an actor id alone names no network: pass the tenant or the row acted on"
    await audit.record(
        session,
        tenant=tenant,
        actor_id=actor_id,
        facility_id=str(facility_id) if facility_id else None,
        action=action,
        target=target,
        detail=detail,
    )
