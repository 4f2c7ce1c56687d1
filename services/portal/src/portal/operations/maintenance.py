"""The maintenance switch (O2): who may switch it, its current state, and what a switch records and tells."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.events.portal import MaintenanceChangedV1
from yui_common.problems import Problem

from portal.models import ALL_NETWORKS, MaintenanceSwitch
from portal.notices.service import post_system_notice
from portal.operations import repository
from portal.operations.gate_cache import announce_change

OPERATOR, CONTRACTOR = "operator", "contractor"


@dataclass(frozen=True)
class MaintenanceState:
    active: bool
    scope: str
    reason: str
    since: datetime | None
    expected_end: datetime | None


OFF = MaintenanceState(active=False, scope="", reason="", since=None, expected_end=None)


async def state_for(session: AsyncSession, tenant: str | None) -> MaintenanceState:
    """On when the whole deployment is stopped, or this network is."""
    scopes = (ALL_NETWORKS, tenant) if tenant else (ALL_NETWORKS,)
    for row in sorted(
        await repository.latest_switches(session, scopes), key=lambda r: r.scope != ALL_NETWORKS
    ):
        if row.active:
            return MaintenanceState(True, row.scope, row.reason, row.switched_at, row.expected_end)
    return OFF


async def history(session: AsyncSession, *, tenant: str, limit: int = 50) -> list[MaintenanceSwitch]:
    return await repository.switch_history(session, tenant=tenant, limit=limit)


async def switch(
    session: AsyncSession,
    *,
    scope: str,
    active: bool,
    reason: str,
    actor_id: str,
    actor_role: str,
    event_tenant: str,
    expected_end: datetime | None = None,
) -> MaintenanceSwitch:
    """Record the switch, audit it, post the report notice and stage the event, all in one transaction."""
    if actor_role not in (OPERATOR, CONTRACTOR):
        raise Problem(
            403, "forbidden", "Forbidden", "Only the operator or the contractor switches maintenance."
        )
    if not reason.strip():
        raise Problem(422, "validation-error", "The request is not valid", "Give the reason for the switch.")
    await repository.lock_switching(session)
    moment = datetime.now(UTC)
    row = MaintenanceSwitch(
        scope=scope,
        active=active,
        reason=reason.strip(),
        switched_by=actor_id,
        switched_by_role=actor_role,
        switched_at=moment,
        expected_end=expected_end if active else None,
    )
    session.add(row)
    await session.flush()
    await announce_change(session, "maintenance")
    title = (
        "サービス停止のお知らせ / Service stopped" if active else "サービス再開のお知らせ / Service resumed"
    )
    body = reason.strip()
    if active and expected_end is not None:
        body += f"\n\n再開予定 / Expected back: {expected_end.isoformat(timespec='minutes')}"
    notice = await post_system_notice(
        session,
        tenant=event_tenant,
        kind="maintenance_report",
        title=title,
        body=body,
        actor_id=actor_id,
        announce=False,  # MaintenanceChangedV1 below tells every user already
    )
    await audit.record(
        session,
        tenant=event_tenant,
        actor_id=actor_id,
        action="maintenance.switched-on" if active else "maintenance.switched-off",
        target=f"maintenance:{scope}",
        detail={"reason": row.reason, "role": actor_role, "notice_id": str(notice.id)},
    )
    await outbox.add_event(
        session,
        MaintenanceChangedV1(
            scope=scope,
            active=active,
            reason=row.reason,
            switched_by_role=actor_role,
            switched_at=moment,
            expected_end=row.expected_end,
        ),
        tenant=event_tenant,
    )
    return row
