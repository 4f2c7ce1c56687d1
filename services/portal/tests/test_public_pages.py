"""P1: the public site's overview, how to join, and the facility directory showing only what was published."""

from __future__ import annotations

from services.portal.tests.public_site_support import network, wire_identity
from tests.support.stack import Stack

HTML = {"Accept": "text/html"}


class TestOverview:
    async def test_p1_the_top_page_gives_the_overview_and_the_way_in(self, stack: Stack) -> None:
        response = await stack["portal"].client.get("/", headers=HTML)
        assert response.status_code == 200
        for text in ("ネットワークの概要", "参加のご案内", "参加施設の一覧", "お問い合わせ", "利用規約"):
            assert text in response.text

    async def test_p1_how_to_join_links_the_online_application(self, stack: Stack) -> None:
        response = await stack["portal"].client.get("/join", headers=HTML)
        assert response.status_code == 200 and "/forms/facility-application" in response.text

    async def test_p1_pages_are_in_english_when_asked(self, stack: Stack) -> None:
        response = await stack["portal"].client.get("/join?lang=en", headers=HTML)
        assert "How to join" in response.text and 'lang="en"' in response.text


class TestDirectory:
    async def test_p1_directory_lists_published_facilities_and_hides_withheld_fields(
        self, stack: Stack
    ) -> None:
        wire_identity(stack)
        tenant, (_, private) = await network(stack, facilities=2)
        admin = stack.staff(tenant=tenant, facility_id=private, roles=("facility_admin",))
        changed = await stack["identity"].client.patch(
            f"/facilities/{private}/publication",
            json={"publish_address": False, "publish_contact": False},
            headers=admin.headers,
        )
        assert changed.status_code == 200
        page = await stack["portal"].client.get(f"/directory?tenant={tenant}", headers=HTML)
        assert page.status_code == 200
        assert "テスト診療所0" in page.text and "北区 0-1" in page.text and "03-0000-0000" in page.text
        assert "テスト診療所1" in page.text
        assert "北区 1-1" not in page.text and "03-0000-0001" not in page.text
        assert "非公開" in page.text

    async def test_p1_directory_search_by_name_kind_and_address(self, stack: Stack) -> None:
        wire_identity(stack)
        tenant, _ = await network(stack, facilities=2)
        client = stack["portal"].client
        by_name = await client.get(f"/directory?tenant={tenant}&name=診療所1", headers=HTML)
        assert "テスト診療所1" in by_name.text and "テスト診療所0" not in by_name.text
        by_address = await client.get(f"/directory?tenant={tenant}&address=北区 0", headers=HTML)
        assert "テスト診療所0" in by_address.text and "テスト診療所1" not in by_address.text
        by_kind = await client.get(f"/directory?tenant={tenant}&kind=pharmacy", headers=HTML)
        assert "テスト診療所" not in by_kind.text and "該当する施設はありません" in by_kind.text

    async def test_p1_the_operators_withholding_removes_the_entry_from_the_public_page(
        self, stack: Stack
    ) -> None:
        wire_identity(stack)
        tenant, (facility,) = await network(stack)
        operator = stack.staff(tenant=tenant, roles=("operator",))
        await stack["identity"].client.patch(
            f"/facilities/{facility}/publication",
            json={"withheld_by_operator": True},
            headers=operator.headers,
        )
        page = await stack["portal"].client.get(f"/directory?tenant={tenant}", headers=HTML)
        assert "テスト診療所0" not in page.text
