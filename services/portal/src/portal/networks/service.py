"""A new network's first terms of use (from terms_template.md, with the network's name and rules filled in) and
its notice period (P4), applied from identity's network events. Never commits.

The operator edits the terms afterwards like any version: the operator's terms page publishes a new one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit
from yui_common.events.identity import NetworkStateV1

from portal.models import TermsVersion
from portal.notices import repository as notices_repository
from portal.notices.service import settings_of
from portal.operations.gate_cache import announce_change

TEMPLATE = Path(__file__).with_name("terms_template.md")
FIRST_VERSION = "1.0"
SYSTEM = "system"
WITHDRAWAL_WORDS = {
    "stop": "それまでに共有した記録は閲覧のみとし、新たな共有を止めます（支援中止）",
    "delete": "それまでに共有した記録を削除します",
}


def first_terms_body(state: NetworkStateV1) -> str:
    return TEMPLATE.read_text(encoding="utf-8").format(
        network_name=state.name,
        municipalities="、".join(state.municipality_names or state.municipality_codes),
        operator_office=state.operator_office or "運営事務局",
        support_hours=state.support_hours,
        withdrawal=WITHDRAWAL_WORDS.get(state.withdrawal_mode, WITHDRAWAL_WORDS["stop"]),
        retention_years=state.retention_years,
        notice_months=state.discontinuation_notice_months,
    )


async def network_created(session: AsyncSession, *, tenant: str, state: NetworkStateV1) -> None:
    """The first terms version, in effect at once, unless the network has one; the notice period."""
    await apply_settings(session, tenant=tenant, state=state)
    if await notices_repository.terms_versions(session, tenant=tenant):
        return
    moment = datetime.now(UTC)
    row = TermsVersion(
        tenant=tenant,
        version=FIRST_VERSION,
        title=f"{state.name} 利用規約",
        body=first_terms_body(state),
        summary_of_changes="初版",
        effective_at=moment,
        published_at=moment,
        published_by=SYSTEM,
    )
    session.add(row)
    await session.flush()
    await announce_change(session, "terms")
    await audit.record(
        session,
        tenant=tenant,
        actor_id=SYSTEM,
        action="terms.published",
        target=f"terms:{row.id}",
        detail={"version": FIRST_VERSION, "from": "template"},
    )


async def apply_settings(session: AsyncSession, *, tenant: str, state: NetworkStateV1) -> None:
    """P4's notice period as the network's rules now say (the contractor or the operator set it in identity)."""
    current = await notices_repository.portal_settings(session, tenant=tenant, lock=True)
    if current is None:
        current = await settings_of(session, tenant)
        if state.operator_office:
            current.operator_name = state.operator_office
        session.add(current)
    if current.notice_period_months != state.discontinuation_notice_months:
        current.notice_period_months = state.discontinuation_notice_months
        current.updated_at = datetime.now(UTC)
        await audit.record(
            session,
            tenant=tenant,
            actor_id=SYSTEM,
            action="portal.settings-changed",
            target=f"network:{tenant}",
            detail={"fields": "notice_period_months", "by_event": f"network version {state.version}"},
        )
    await session.flush()
