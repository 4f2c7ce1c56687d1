"""Each network's public site at /n/<slug>/ and at the host the gateway maps to it (issue 11, item 3).

Two networks with their own facilities, public notices and terms: each one's site shows its own and nothing of
the other; links stay under the network's prefix; a slug no network has is the one 404 page; the staff pages
asked for under a prefix are sent to their own address with the network; the gateway's X-Yui-Network header
chooses the network only beside the gateway's secret; and the unprefixed paths keep serving the default network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from identity.models import Facility, Network
from portal.public.networks import NETWORK_HEADER
from sqlalchemy import text
from yui_common import networks
from yui_common.events.identity import NetworkStateV1

from services.portal.tests.public_site_support import public_form_token, wire_identity
from tests.support.stack import FROM_GATEWAY, Stack

HTML = {"Accept": "text/html"}


@dataclass
class Site:
    tenant: str
    facility: str
    notice: str
    terms: str


async def network_site(stack: Stack, label: str) -> Site:
    """A network with one listed facility, a public notice and terms in effect, all named after ``label``."""
    wire_identity(stack)
    tenant = f"pn-{uuid4().hex[:8]}"
    site = Site(tenant, f"{label}診療所", f"{label}の住民向けお知らせ", f"{label}ネットワーク利用規約")
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name=f"{label}ネットワーク"))
        await session.flush()
        session.add(
            Facility(id=uuid4(), tenant=tenant, name=site.facility, kind="clinic", address=f"{label}町 1-1")
        )
    operator = stack.staff(tenant=tenant, roles=("operator",))
    portal = stack["portal"].client
    notice = await portal.post(
        "/api/operator/notices",
        json={"audience": "public", "title": site.notice, "body": f"{label}からのお知らせです。"},
        headers=operator.headers,
    )
    assert notice.status_code == 201, notice.text
    terms = await portal.post(
        "/api/operator/terms",
        json={
            "version": "1.0",
            "title": site.terms,
            "body": f"第1条 {label}ネットワークの目的",
            "effective_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        },
        headers=operator.headers,
    )
    assert terms.status_code == 201, terms.text
    return site


async def two_sites(stack: Stack) -> tuple[Site, Site]:
    return await network_site(stack, "北"), await network_site(stack, "南")


def shows(page: str, site: Site) -> bool:
    return any(text in page for text in (site.facility, site.notice, site.terms))


class TestPrefixedSites:
    async def test_ten2_each_networks_directory_notices_and_terms_are_its_own(self, stack: Stack) -> None:
        north, south = await two_sites(stack)
        portal = stack["portal"].client
        for own, other in ((north, south), (south, north)):
            directory = await portal.get(f"/n/{own.tenant}/directory", headers=HTML)
            assert directory.status_code == 200, directory.text
            assert own.facility in directory.text and other.facility not in directory.text
            notices = await portal.get(f"/n/{own.tenant}/notices", headers=HTML)
            assert own.notice in notices.text and not shows(notices.text, other)
            terms = await portal.get(f"/n/{own.tenant}/terms", headers=HTML)
            assert own.terms in terms.text and not shows(terms.text, other)
            home = await portal.get(f"/n/{own.tenant}/", headers=HTML)
            assert home.status_code == 200
            assert own.notice in home.text and not shows(home.text, other)

    async def test_ten2_a_sites_links_stay_under_its_prefix(self, stack: Stack) -> None:
        north, _ = await two_sites(stack)
        page = await stack["portal"].client.get(f"/n/{north.tenant}/notices", headers=HTML)
        links = re.findall(r'href="([^"]+)"', page.text)
        assert f"/n/{north.tenant}/directory" in links
        assert f"/n/{north.tenant}/terms" in links
        notice = re.search(rf'href="(/n/{north.tenant}/notices/[0-9a-f-]+)">{north.notice}<', page.text)
        assert notice, page.text
        opened = await stack["portal"].client.get(notice.group(1), headers=HTML)
        assert opened.status_code == 200 and north.notice in opened.text
        stylesheet = next(link for link in links if link.endswith(".css"))
        assert (await stack["portal"].client.get(stylesheet)).status_code == 200

    async def test_ten2_another_networks_notice_is_not_found_under_a_prefix(self, stack: Stack) -> None:
        north, south = await two_sites(stack)
        portal = stack["portal"].client
        page = await portal.get(f"/n/{south.tenant}/notices", headers=HTML)
        south_notice = re.search(rf'href="/n/{south.tenant}/notices/([0-9a-f-]+)">{south.notice}<', page.text)
        assert south_notice
        other = await portal.get(f"/n/{north.tenant}/notices/{south_notice.group(1)}", headers=HTML)
        assert other.status_code == 404
        assert south.notice not in other.text

    async def test_ten2_an_unknown_network_is_the_404_page(self, stack: Stack) -> None:
        portal = stack["portal"].client
        for path in ("/n/no-such-network/", "/n/no-such-network/directory", "/n/no-such-network/terms"):
            page = await portal.get(path, headers=HTML)
            assert page.status_code == 404, (path, page.text)
            assert page.headers["content-type"].startswith("text/html")
            assert "このアドレスのネットワークはありません" in page.text
        api = await portal.get("/n/no-such-network/notices")
        assert api.status_code == 404
        assert api.headers["content-type"].startswith("application/problem+json")

    async def test_ten3_a_suspended_networks_site_is_closed_to_a_member_of_another_network_too(
        self, stack: Stack
    ) -> None:
        """The site under /n/<slug>/ is that network's, whoever is signed in: its suspension applies, not the
        state of the visitor's own network."""
        north, south = await two_sites(stack)
        async with stack["portal"].sessionmaker() as session, session.begin():
            for site, status in ((north, "active"), (south, "suspended")):
                await networks.apply(
                    session,
                    site.tenant,
                    NetworkStateV1(slug=site.tenant, name=site.tenant, status=status, version=1),
                )
        member_of_north = stack.staff(tenant=north.tenant)
        portal = stack["portal"].client
        headers = {**HTML, **member_of_north.headers}
        page = await portal.get(f"/n/{south.tenant}/directory", headers=headers)
        assert not shows(page.text, south), page.text[:500]
        assert page.status_code >= 400
        own = await portal.get(f"/n/{north.tenant}/directory", headers=headers)
        assert own.status_code == 200 and shows(own.text, north)

    async def test_ten2_the_bare_prefix_redirects_to_the_sites_home(self, stack: Stack) -> None:
        north, _ = await two_sites(stack)
        bare = await stack["portal"].client.get(f"/n/{north.tenant}", headers=HTML)
        assert bare.status_code == 308
        assert bare.headers["location"] == f"/n/{north.tenant}/"

    async def test_ten2_staff_pages_under_a_prefix_go_to_their_address_with_the_network(
        self, stack: Stack
    ) -> None:
        north, _ = await two_sites(stack)
        portal = stack["portal"].client
        login = await portal.get(f"/n/{north.tenant}/staff/login", headers=HTML)
        assert login.status_code == 303
        assert login.headers["location"] == f"/staff/login?tenant={north.tenant}"
        form = await portal.get(login.headers["location"], headers=HTML)
        assert re.search(rf'name="tenant"[^>]*value="{north.tenant}"', form.text), form.text[:2000]
        posted = await portal.post(f"/n/{north.tenant}/staff/login", data={}, headers=HTML)
        assert posted.status_code == 404

    async def test_ten2_an_inquiry_sent_under_a_prefix_reaches_that_networks_operator(
        self, stack: Stack
    ) -> None:
        north, _ = await two_sites(stack)
        portal = stack["portal"].client
        token, browser = await public_form_token(portal, f"/n/{north.tenant}/inquiries")
        sent = await portal.post(
            f"/n/{north.tenant}/inquiries",
            data={
                "csrf": token,
                "name": "北 住民",
                "email": "resident@example.jp",
                "subject": "参加について",
                "body": "参加の手続きを教えてください。",
            },
            headers=browser,
        )
        assert sent.status_code == 201, sent.text
        async with stack["portal"].sessionmaker() as session:
            tenants = (
                await session.execute(text("SELECT tenant FROM inquiries WHERE name = '北 住民'"))
            ).scalars()
            assert set(tenants) == {north.tenant}


class TestMappedHosts:
    async def test_ten2_the_gateways_header_chooses_the_network(self, stack: Stack) -> None:
        north, south = await two_sites(stack)
        page = await stack["portal"].client.get(
            "/directory", headers={**HTML, **FROM_GATEWAY, NETWORK_HEADER: south.tenant}
        )
        assert page.status_code == 200
        assert south.facility in page.text and north.facility not in page.text
        # Its links are the host's own (no prefix).
        assert 'href="/terms"' in page.text

    async def test_ten2_the_header_without_the_gateways_secret_is_ignored(self, stack: Stack) -> None:
        north, south = await two_sites(stack)
        page = await stack["portal"].client.get(
            f"/directory?tenant={north.tenant}", headers={**HTML, NETWORK_HEADER: south.tenant}
        )
        assert north.facility in page.text and south.facility not in page.text

    async def test_ten2_a_header_naming_no_network_is_the_404_page(self, stack: Stack) -> None:
        page = await stack["portal"].client.get(
            "/terms", headers={**HTML, **FROM_GATEWAY, NETWORK_HEADER: "no-such-network"}
        )
        assert page.status_code == 404

    async def test_ten2_unprefixed_paths_keep_serving_the_default_network(self, stack: Stack) -> None:
        north, south = await two_sites(stack)
        portal = stack["portal"].client
        for path in ("/", "/directory", "/notices", "/terms"):
            page = await portal.get(path, headers=HTML)
            assert page.status_code in (200, 503), (path, page.status_code)
            assert not shows(page.text, north) and not shows(page.text, south), path
        chosen = await portal.get(f"/terms?tenant={south.tenant}", headers=HTML)
        assert south.terms in chosen.text
