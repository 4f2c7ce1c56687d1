"""Issue 11, item 2: the operator changes the network's rules at /admin/network/settings; each change is audited
and reaches every service that applies it by identity.network-settings-changed.v1 (consent's municipalities and
withdrawal mode, the timeline's retention and attachment limit, the portal's notice period)."""

from __future__ import annotations

import json
from uuid import uuid4

from identity.platform import service as platform
from identity.platform.schemas import NetworkCreate
from sqlalchemy import text

from tests.support.stack import Stack, eventually


async def state_in(stack: Stack, svc: str, slug: str) -> dict:  # type: ignore[type-arg]
    async with stack[svc].sessionmaker() as session:
        raw = (
            await session.execute(text("SELECT state FROM network_states WHERE tenant = :t"), {"t": slug})
        ).scalar_one_or_none()
    return (json.loads(raw) if isinstance(raw, str) else raw) or {}


class TestOperatorChangesTheNetworksRules:
    async def test_each_setting_is_audited_and_reaches_every_service(self, stack: Stack) -> None:
        slug = f"rules-{uuid4().hex[:8]}"
        async with stack["identity"].sessionmaker() as session, session.begin():
            await platform.create_network(
                session,
                actor="test-contractor",
                data=NetworkCreate(
                    slug=slug,
                    name="取手市 在宅ネット",
                    municipality_codes=["082171"],
                    operator_office="取手市 高齢福祉課",
                    operator_login_id="operator",
                    operator_name="取手 一郎",
                ),
            )
        async with stack["identity"].sessionmaker() as session:
            office = (
                await session.execute(text("SELECT facility_id FROM users WHERE tenant = :t"), {"t": slug})
            ).scalar_one()
        operator = stack.staff(tenant=slug, facility_id=office, roles=("operator",))
        identity = stack["identity"].client

        form = await identity.get("/admin/network/settings", headers=operator.headers)
        assert form.status_code == 200 and "茨城県取手市" in form.text
        staff = stack.staff(tenant=slug, facility_id=office, roles=("staff",))
        assert (
            "取手市 在宅ネット"
            not in (await identity.get("/admin/network/settings", headers=staff.headers)).text
        )

        values = {
            "name": "取手市 在宅ネット",
            "municipality_codes": "082171 082244",
            "operator_office": "取手市 地域包括ケア推進課",
            "support_hours": "平日 8:30-17:15",
            "retention_years": "7",
            "discontinuation_notice_months": "6",
            "max_attachment_mb": "10",
            "withdrawal_mode": "delete",
            "totp_allowed": "true",
        }
        refused = await identity.post(
            "/admin/network/settings",
            data={**values, "municipality_codes": "082171 082245"},
            headers=operator.headers,
        )
        assert refused.status_code == 422 and "検査数字" in refused.text
        saved = await identity.post("/admin/network/settings", data=values, headers=operator.headers)
        assert saved.status_code == 303, saved.text

        async with stack["identity"].sessionmaker() as session:
            detail = (
                await session.execute(
                    text(
                        "SELECT detail FROM audit_log WHERE tenant = :t AND action = 'network.settings-changed' "
                        "ORDER BY seq DESC LIMIT 1"
                    ),
                    {"t": slug},
                )
            ).scalar_one()
        detail = json.loads(detail) if isinstance(detail, str) else detail
        assert detail["withdrawal_mode"] == "delete" and detail["retention_years"] == "7"

        async def timeline_applies() -> bool:
            state = await state_in(stack, "timeline", slug)
            return state.get("max_attachment_bytes") == 10 * 1024 * 1024 and state.get("retention_years") == 7

        await eventually(timeline_applies, what="the timeline's attachment limit and retention")

        async def consent_applies() -> bool:
            async with stack["consent"].sessionmaker() as session:
                mode = (
                    await session.execute(
                        text("SELECT withdrawal_mode FROM networks WHERE tenant = :t"), {"t": slug}
                    )
                ).scalar_one_or_none()
                codes = set(
                    (
                        await session.execute(
                            text("SELECT municipality_code FROM network_municipalities WHERE tenant = :t"),
                            {"t": slug},
                        )
                    ).scalars()
                )
            return mode == "delete" and codes == {"082171", "082244"}

        await eventually(consent_applies, what="consent's withdrawal mode and municipalities")

        async def portal_applies() -> bool:
            async with stack["portal"].sessionmaker() as session:
                months = (
                    await session.execute(
                        text("SELECT notice_period_months FROM portal_settings WHERE tenant = :t"),
                        {"t": slug},
                    )
                ).scalar_one_or_none()
            return months == 6

        await eventually(portal_applies, what="the portal's notice period")

        # The timeline refuses an attachment over the new limit from its declared length.
        from timeline import network_rules

        async with stack["timeline"].sessionmaker() as session:
            policy = await network_rules.policy_for(session, stack["timeline"].settings, slug)  # type: ignore[arg-type]
        assert policy.max_upload_bytes == 10 * 1024 * 1024 and policy.retention_years == 7
