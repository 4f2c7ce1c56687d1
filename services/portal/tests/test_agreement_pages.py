"""The operator's 連携協定 pages (issue 12, item 1) through the portal against the real federation service: two
networks of the one test deployment agree through the pages (propose, accept, suspend, resume, end, each side on its
own pages), the peer network chosen by name from the document its deployment publishes, bad input answered on the
form, and non-operators refused (audited) without seeing the menu. No page shows an id."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import sqlalchemy as sa
from yui_common import networks
from yui_common.events.identity import NetworkStateV1

from services.portal.tests.public_site_support import cookie_of
from tests.support.federation import ca_certificate_pem, leaf_certificate_pem
from tests.support.stack import Stack, Staff, eventually

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
CSRF = {"csrf": "csrf-token-of-the-test-session"}
AGREEMENT_LINK = re.compile(r'href="/operator/agreements/([0-9a-f-]{36})"')


@dataclass
class Side:
    tenant: str
    name: str
    operator: Staff
    cookie: dict[str, str]


def visible_text(page: str) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


async def named_network(stack: Stack, label: str, name: str) -> Side:
    """A network federation knows by name (identity's network event fills its projection so), and its operator."""
    tenant = f"{label}-{uuid4().hex[:8]}"
    async with stack["federation"].sessionmaker() as session, session.begin():
        await networks.apply(session, tenant, NetworkStateV1(slug=tenant, name=name, version=1))
    operator = stack.staff(tenant=tenant, roles=("operator",))
    return Side(tenant, name, operator, cookie_of(stack, operator))


def base_url(stack: Stack) -> str:
    return str(stack["federation"].settings.federation_base_url)  # type: ignore[attr-defined]


async def portal(stack: Stack, method: str, path: str, side: Side, **kwargs: Any) -> httpx.Response:
    return await stack["portal"].client.request(
        method, path, headers={**side.cookie, **kwargs.pop("headers", {})}, **kwargs
    )


async def federation_actions(stack: Stack, tenant: str) -> list[str]:
    async with stack["federation"].sessionmaker() as session:
        rows = await session.execute(
            sa.text("SELECT action FROM audit_log WHERE tenant = :t ORDER BY seq"), {"t": tenant}
        )
        return [r.action for r in rows]


def proposal_form(stack: Stack, peer: Side, **changes: Any) -> dict[str, Any]:
    return {
        **CSRF,
        "peer_base_url": base_url(stack),
        "peer_source": f"{base_url(stack)}/networks/{peer.tenant}",
        "peer_ca_pem": ca_certificate_pem("Tonari deployment CA"),
        "event_types": ["yui.federation.audit-head.v1"],
        "grant": ["doctor:visit", "doctor:vitals", "nurse:visit", "nurse:medication"],
        "cache_limit_hours": "48",
        **changes,
    }


async def listed(stack: Stack, side: Side) -> str:
    page = await portal(stack, "GET", "/operator/agreements", side)
    assert page.status_code == 200, page.text[:800]
    return page.text


class TestTwoNetworksAgreeThroughThePages:
    async def test_fed7_one_network_proposes_and_the_other_accepts_on_their_operator_pages(
        self, stack: Stack
    ) -> None:
        home = await named_network(stack, "agree-home", "結ネット（試験）")
        peer = await named_network(stack, "agree-peer", "となりまちネット（試験）")
        assert "まだ協定はありません" in await listed(stack, home)

        # The peer network is offered by name once the base URL is given (the htmx fragment), never this network.
        form = await portal(stack, "GET", "/operator/agreements/new", home)
        assert form.status_code == 200 and 'name="grant" value="doctor:visit"' in form.text
        assert "訪問" in form.text and "医師" in form.text and "バイタル記録" in form.text
        field = await portal(
            stack,
            "POST",
            "/operator/agreements/new/peer-networks",
            home,
            data={**CSRF, "peer_base_url": base_url(stack)},
            headers={"HX-Request": "true"},
        )
        assert field.status_code == 200, field.text[:800]
        assert field.text.lstrip().startswith('<div id="peer-network-field"')
        assert f'value="{base_url(stack)}/networks/{peer.tenant}"' in field.text and peer.name in field.text
        assert f"/networks/{home.tenant}" not in field.text

        sent = await portal(stack, "POST", "/operator/agreements", home, data=proposal_form(stack, peer))
        assert sent.status_code == 303, sent.text[:1500]
        detail = await portal(stack, "GET", sent.headers["location"], home)
        text = visible_text(detail.text)
        assert "協定を提案しました" in text and "提案中" in text and "当方提案" in text
        assert f"{peer.name}との協定" in text
        assert f"{home.name} の利用規約" in text  # the proposing network's terms govern
        assert "48 時間" in text and "SHA-256" in text
        assert re.search(r"SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}", text)
        assert "医師" in text and "看護師" in text and "服薬" in text and "バイタル記録" in text
        assert "監査ログの検証値" in text
        assert not UUID_TEXT.search(text), UUID_TEXT.findall(text)
        assert 'id="step-accept"' not in detail.text  # only the network proposed to accepts
        assert 'id="step-end"' in detail.text

        # The peer's operator sees it once the signed proposal arrived, proposed by the other side.
        async def arrived() -> str | None:
            page = await listed(stack, peer)
            return page if "相手方提案" in page else None

        at_peer = await eventually(arrived, what="the proposal on the peer's list")
        assert f"{home.name}との協定" in visible_text(at_peer) and "提案中" in visible_text(at_peer)
        assert not UUID_TEXT.search(visible_text(at_peer))
        link = AGREEMENT_LINK.search(at_peer)
        assert link
        agreement = f"/operator/agreements/{link.group(1)}"
        peer_detail = visible_text((await portal(stack, "GET", agreement, peer)).text)
        assert f"{home.name} の利用規約" in peer_detail and "相手方提案" in peer_detail

        confirm = await portal(stack, "GET", f"{agreement}/accept", peer)
        assert confirm.status_code == 200 and "協定を承諾しますか" in confirm.text
        # The test deployment sends no CA of its own with a proposal: the acceptance asks for the proposer's.
        assert 'name="peer_ca_pem"' in confirm.text and 'name="peer_ca_file"' in confirm.text
        accepted = await portal(
            stack,
            "POST",
            f"{agreement}/accept",
            peer,
            data={**CSRF, "peer_ca_pem": ca_certificate_pem("Home deployment CA")},
        )
        assert accepted.status_code == 303, accepted.text[:1500]
        peer_detail = visible_text((await portal(stack, "GET", accepted.headers["location"], peer)).text)
        assert "締結済み" in peer_detail and "協定を承諾しました" in peer_detail

        async def accepted_at_home() -> bool:
            return "agreement-state--accepted" in await listed(stack, home)

        await eventually(accepted_at_home, what="home's list to say 締結済み")

        # Either side suspends (confirmed first), the other resumes, home ends: each reaches the other side.
        assert (await portal(stack, "POST", f"{agreement}/suspend", peer, data=CSRF)).status_code == 303

        async def suspended_at_home() -> bool:
            return "agreement-state--suspended" in await listed(stack, home)

        await eventually(suspended_at_home, what="home's list to say 一時停止")
        assert (await portal(stack, "POST", f"{agreement}/resume", home, data=CSRF)).status_code == 303
        ended = await portal(stack, "POST", f"{agreement}/end", home, data=CSRF)
        assert ended.status_code == 303

        async def ended_at_peer() -> bool:
            return "agreement-state--ended" in await listed(stack, peer)

        await eventually(ended_at_peer, what="the peer's list to say 終了")
        # A step the state no longer allows is answered on the confirmation page, never a 500.
        refused = await portal(stack, "POST", f"{agreement}/resume", peer, data=CSRF)
        assert refused.status_code == 409 and "その操作はできません" in refused.text

        # Federation audited every page's read and step on both sides.
        home_actions = set(await federation_actions(stack, home.tenant))
        peer_actions = set(await federation_actions(stack, peer.tenant))
        assert {
            "federation.agreement.listed",
            "federation.agreement.read",
            "federation.agreement.proposed",
            "federation.agreement.ended",
            "federation.peer-networks.read",
        } <= home_actions, home_actions
        assert {"federation.agreement.accepted", "federation.agreement.suspended"} <= peer_actions, (
            peer_actions
        )


class TestTheProposeForm:
    async def test_bad_input_is_answered_on_the_form_with_what_was_typed(self, stack: Stack) -> None:
        home = await named_network(stack, "form-home", "結ネット（入力）")
        peer = await named_network(stack, "form-peer", "となりまち（入力）")

        not_a_ca = await portal(
            stack,
            "POST",
            "/operator/agreements",
            home,
            data=proposal_form(stack, peer, peer_ca_pem=leaf_certificate_pem()),
        )
        assert not_a_ca.status_code == 422
        assert "認証局（CA）の証明書ではありません" in not_a_ca.text
        assert 'value="nurse:medication" checked' in not_a_ca.text  # the grid kept
        assert f'value="{base_url(stack)}/networks/{peer.tenant}" selected' in not_a_ca.text

        no_network = await portal(
            stack, "POST", "/operator/agreements", home, data=proposal_form(stack, peer, peer_source="")
        )
        assert no_network.status_code == 422 and "相手方のネットワークを選んでください" in no_network.text

        hours = await portal(
            stack,
            "POST",
            "/operator/agreements",
            home,
            data=proposal_form(stack, peer, cache_limit_hours="many"),
        )
        assert hours.status_code == 422 and "0 から 2160 までの整数" in hours.text

        elsewhere = await portal(
            stack,
            "POST",
            "/operator/agreements",
            home,
            data=proposal_form(stack, peer, peer_source=f"https://elsewhere.invalid/networks/{peer.tenant}"),
        )
        assert elsewhere.status_code == 422 and "入力したアドレスのものではない" in elsewhere.text

        # The CA as an uploaded file is taken as pasted text is.
        fields = proposal_form(stack, peer)
        pem = fields.pop("peer_ca_pem")
        uploaded = await portal(
            stack,
            "POST",
            "/operator/agreements",
            home,
            data=fields,
            files={"peer_ca_file": ("tonari-ca.pem", pem.encode(), "application/x-pem-file")},
        )
        assert uploaded.status_code == 303, uploaded.text[:1500]
        # Nothing half-written: the refused attempts made no agreement.
        assert len(AGREEMENT_LINK.findall(await listed(stack, home))) == 1

        # Without script, the button loads the peer's networks into the whole form again.
        reloaded = await portal(
            stack,
            "POST",
            "/operator/agreements/new/peer-networks",
            home,
            data={**CSRF, "peer_base_url": base_url(stack)},
        )
        assert (
            reloaded.status_code == 200
            and "<h1>協定を提案する</h1>" in reloaded.text
            and peer.name in reloaded.text
        )


class TestOnlyOperators:
    async def test_staff_who_are_not_operators_see_no_menu_and_are_refused_with_an_audit_entry(
        self, stack: Stack
    ) -> None:
        home = await named_network(stack, "refused-home", "結ネット（職員）")
        nurse = stack.staff(tenant=home.tenant, roles=("staff",))
        cookie = cookie_of(stack, nurse)
        staff_home = await stack["portal"].client.get("/staff", headers=cookie)
        assert "/operator/agreements" not in staff_home.text
        assert (
            "/operator/agreements" in (await stack["portal"].client.get("/staff", headers=home.cookie)).text
        )

        for method, path in (
            ("GET", "/operator/agreements"),
            ("GET", "/operator/agreements/new"),
            ("POST", "/operator/agreements"),
            ("GET", f"/operator/agreements/{uuid4()}"),
            ("POST", f"/operator/agreements/{uuid4()}/end"),
        ):
            data = CSRF if method == "POST" else None
            refused = await stack["portal"].client.request(method, path, headers=cookie, data=data)
            assert refused.status_code == 403, (path, refused.text[:300])
            assert refused.json()["type"].endswith("forbidden")

        async with stack["portal"].sessionmaker() as session:
            rows = await session.execute(
                sa.text("SELECT action, actor_id FROM audit_log WHERE tenant = :t ORDER BY seq"),
                {"t": home.tenant},
            )
            refusals = [(r.action, r.actor_id) for r in rows if r.action.endswith("-refused")]
        assert ("federation.agreement.list-refused", str(nurse.user_id)) in refusals
        assert ("federation.agreement.end-refused", str(nurse.user_id)) in refusals
        assert len(refusals) == 5

    async def test_another_networks_agreement_is_not_found_on_the_pages(self, stack: Stack) -> None:
        home = await named_network(stack, "own-home", "結ネット（他）")
        peer = await named_network(stack, "own-peer", "となり（他）")
        outsider = await named_network(stack, "own-outsider", "よそネット")
        sent = await portal(stack, "POST", "/operator/agreements", home, data=proposal_form(stack, peer))
        assert sent.status_code == 303
        elsewhere = await portal(stack, "GET", sent.headers["location"].split("?")[0], outsider)
        assert elsewhere.status_code == 404
        assert "まだ協定はありません" in await listed(stack, outsider)
