"""P1: the public site's overview, how to join, and the facility directory showing only what was published."""

from __future__ import annotations

import re
from uuid import uuid4

from services.portal.tests.public_site_support import network, public_form_token, wire_identity
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


class TestDailyUseOfThePublicSite:
    """Issue 10, item 9: kinds in words, the terms never empty, holidays as dates, a reference number."""

    async def test_ux9_the_directory_names_facility_kinds_in_words(self, stack: Stack) -> None:
        from identity.models import Facility

        wire_identity(stack)
        tenant, _ = await network(stack)
        async with stack["identity"].sessionmaker() as session, session.begin():
            session.add(Facility(id=uuid4(), tenant=tenant, name="結訪問看護", kind="visiting_nurse"))
        page = await stack["portal"].client.get(f"/directory?tenant={tenant}", headers=HTML)
        assert "診療所" in page.text and "訪問看護ステーション" in page.text
        assert not re.search(r">\s*(clinic|visiting_nurse)\s*<", page.text)
        english = await stack["portal"].client.get(f"/directory?tenant={tenant}&lang=en", headers=HTML)
        assert "Home-nursing station" in english.text

    async def test_ux9_closed_periods_read_as_japanese_dates(self, stack: Stack) -> None:
        tenant = f"pub-{uuid4().hex[:8]}"
        operator = stack.staff(tenant=tenant, roles=("operator",))
        changed = await stack["portal"].client.patch(
            "/api/operator/settings",
            json={"support_closed_periods": ["12-29..01-03", "08-15..08-15"]},
            headers=operator.headers,
        )
        assert changed.status_code == 200, changed.text
        page = await stack["portal"].client.get(f"/inquiries?tenant={tenant}", headers=HTML)
        assert "12月29日〜1月3日、8月15日" in page.text and "12-29..01-03" not in page.text
        english = await stack["portal"].client.get(f"/inquiries?tenant={tenant}&lang=en", headers=HTML)
        assert "29 Dec – 3 Jan, 15 Aug" in english.text

    async def test_ux9_the_terms_are_shown_where_applying_asks_to_accept_them(self, stack: Stack) -> None:
        wire_identity(stack)
        tenant, _ = await network(stack)
        client = stack["portal"].client
        empty = await client.get(f"/terms?tenant={tenant}", headers=HTML)
        assert "公開されている規約はありません" in empty.text
        form = await client.get(f"/forms/facility-application?tenant={tenant}", headers=HTML)
        assert "現在、公開されている利用規約はありません" in form.text and "利用規約「" not in form.text
        operator = stack.staff(tenant=tenant, roles=("operator",))
        published = await client.post(
            "/api/operator/terms",
            json={
                "version": "2026.1",
                "title": "結ネット利用規約",
                "body": "第1条 この規約は結ネットの利用について定めます。",
                "effective_at": "2026-01-01T00:00:00+09:00",
            },
            headers=operator.headers,
        )
        assert published.status_code == 201, published.text
        terms = await client.get(f"/terms?tenant={tenant}", headers=HTML)
        assert "第1条 この規約は結ネットの利用について定めます。" in terms.text and "現行" in terms.text
        form = await client.get(f"/forms/facility-application?tenant={tenant}", headers=HTML)
        assert "利用規約「結ネット利用規約」（版 2026.1）に同意し" in form.text
        assert 'href="/terms/2026.1"' in form.text

    async def test_ux9_applying_gives_a_reference_number_the_operator_finds(self, stack: Stack) -> None:
        from identity.models import Facility
        from sqlalchemy import select
        from yui_common.reference_numbers import reference_number

        wire_identity(stack)
        tenant, _ = await network(stack)
        client = stack["portal"].client
        token, browser = await public_form_token(client, f"/forms/facility-application?tenant={tenant}")
        login_id = f"ref-{uuid4().hex[:6]}"
        sent = await client.post(
            f"/forms/facility-application?tenant={tenant}",
            data={
                "csrf": token,
                "name": "みどり薬局",
                "kind": "pharmacy",
                "address": "緑区 1-1",
                "phone": "052-000-0000",
                "administrator_name": "緑 一郎",
                "administrator_email": "midori@example.jp",
                "administrator_login_id": login_id,
                "pledge_accepted": "yes",
            },
            headers=browser,
        )
        assert sent.status_code == 202, sent.text
        async with stack["identity"].sessionmaker() as session:
            row = (
                await session.execute(select(Facility).filter_by(administrator_login_id=login_id))
            ).scalar_one()
        reference = reference_number(row.id)
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", reference)
        assert f'id="reference-number">{reference}<' in sent.text and "受付番号" in sent.text
        # The applicant reads it out on the phone, however they type it; the operator finds the application.
        operator = stack.staff(tenant=tenant, roles=("operator",))
        typed = reference.lower().replace("-", " ")
        found = await stack["identity"].client.get(
            "/admin/applications", params={"reference": typed}, headers=operator.headers
        )
        assert found.status_code == 200 and "みどり薬局" in found.text and reference in found.text
        other = await stack["identity"].client.get(
            "/admin/applications", params={"reference": "0000-0000"}, headers=operator.headers
        )
        assert "みどり薬局" not in other.text
