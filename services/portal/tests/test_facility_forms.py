"""P6: online facility application, change and withdrawal, sent to identity; validated, CSRF-protected."""

from __future__ import annotations

from uuid import uuid4

from identity.models import Facility
from sqlalchemy import select

from services.portal.tests.public_site_support import cookie_of, network, public_form_token, wire_identity
from tests.support.stack import Stack

CSRF = "csrf-token-of-the-test-session"


def application(token: str, login_id: str) -> dict[str, str]:
    return {
        "csrf": token,
        "name": "あおば薬局",
        "kind": "pharmacy",
        "address": "青葉区 1-2-3",
        "phone": "022-000-0000",
        "administrator_name": "青葉 一郎",
        "administrator_email": "aoba@example.jp",
        "administrator_login_id": login_id,
        "pledge_accepted": "yes",
    }


async def facility_row(stack: Stack, **where: object) -> Facility | None:
    async with stack["identity"].sessionmaker() as session:
        stmt = select(Facility).filter_by(**where)
        return (await session.execute(stmt)).scalars().first()


class TestApplication:
    async def test_p6_an_application_reaches_identitys_review_queue(self, stack: Stack) -> None:
        wire_identity(stack)
        tenant, _ = await network(stack)
        client = stack["portal"].client
        token, browser = await public_form_token(client, f"/forms/facility-application?tenant={tenant}")
        login_id = f"aoba-{uuid4().hex[:6]}"
        sent = await client.post(
            f"/forms/facility-application?tenant={tenant}", data=application(token, login_id), headers=browser
        )
        assert sent.status_code == 202, sent.text
        assert "あおば薬局" in sent.text
        row = await facility_row(stack, tenant=tenant, administrator_login_id=login_id)
        assert row is not None and row.status == "applied" and row.kind == "pharmacy"

    async def test_p6_invalid_fields_are_shown_and_nothing_is_sent(self, stack: Stack) -> None:
        wire_identity(stack)
        tenant, _ = await network(stack)
        client = stack["portal"].client
        token, browser = await public_form_token(client, f"/forms/facility-application?tenant={tenant}")
        form = {**application(token, "bad id!"), "name": "", "kind": "bakery"}
        del form["pledge_accepted"]
        sent = await client.post(f"/forms/facility-application?tenant={tenant}", data=form, headers=browser)
        assert sent.status_code == 422
        for message in (
            "入力してください。",
            "選択肢から選んでください。",
            "形式が正しくありません。",
            "同意が必要です。",
        ):
            assert message in sent.text
        assert 'aria-invalid="true"' in sent.text and 'value="青葉区 1-2-3"' in sent.text
        assert await facility_row(stack, tenant=tenant, status="applied") is None
        english = await client.post(
            f"/forms/facility-application?tenant={tenant}&lang=en", data=form, headers=browser
        )
        assert "This field is required." in english.text and "You must agree to continue." in english.text

    async def test_p6_the_public_form_does_not_tell_that_a_login_id_is_taken(self, stack: Stack) -> None:
        """An outsider must not learn which login IDs exist (issue 14): the operator settles a clash at approval."""
        wire_identity(stack)
        tenant, _ = await network(stack)
        client = stack["portal"].client
        token, browser = await public_form_token(client, f"/forms/facility-application?tenant={tenant}")
        login_id = f"dup-{uuid4().hex[:6]}"
        path = f"/forms/facility-application?tenant={tenant}"
        assert (
            await client.post(path, data=application(token, login_id), headers=browser)
        ).status_code == 202
        again = await client.post(path, data=application(token, login_id), headers=browser)
        assert again.status_code == 202 and "このログインIDは使われています" not in again.text

    async def test_p6_the_form_needs_its_csrf_token(self, stack: Stack) -> None:
        tenant, _ = await network(stack)
        response = await stack["portal"].client.post(
            f"/forms/facility-application?tenant={tenant}", data=application("forged", "someone")
        )
        assert response.status_code == 403

    async def test_p6_forms_carry_no_inline_script(self, stack: Stack) -> None:
        page = await stack["portal"].client.get(
            "/forms/facility-application", headers={"Accept": "text/html"}
        )
        assert "<script" not in page.text and " on" + "submit=" not in page.text and "style=" not in page.text


class TestChangeAndWithdrawal:
    async def test_p6_the_administrator_changes_the_entry_and_what_is_published(self, stack: Stack) -> None:
        wire_identity(stack)
        tenant, (facility_id,) = await network(stack)
        admin = stack.staff(tenant=tenant, facility_id=facility_id, roles=("facility_admin", "staff"))
        browser = cookie_of(stack, admin)
        client = stack["portal"].client
        page = await client.get("/forms/facility-change", headers=browser)
        assert page.status_code == 200 and 'value="テスト診療所0"' in page.text
        sent = await client.post(
            "/forms/facility-change",
            data={
                "csrf": CSRF,
                "name": "新テスト診療所",
                "address": "南区 9-9",
                "phone": "03-1111-2222",
                "administrator_name": "管理 次郎",
                "administrator_email": "jiro@example.jp",
                "listed": "yes",
                "publish_name": "yes",
                "publish_status": "yes",
            },
            headers=browser,
        )
        assert sent.status_code == 200 and "変更しました。" in sent.text
        row = await facility_row(stack, id=facility_id)
        assert row is not None and row.name == "新テスト診療所" and row.address == "南区 9-9"
        assert row.publish_address is False and row.publish_contact is False and row.publish_name is True

    async def test_p6_plain_staff_cannot_use_the_administrators_forms(self, stack: Stack) -> None:
        wire_identity(stack)
        tenant, (facility_id,) = await network(stack)
        staff = stack.staff(tenant=tenant, facility_id=facility_id, roles=("staff",))
        response = await stack["portal"].client.get("/forms/facility-change", headers=cookie_of(stack, staff))
        assert response.status_code == 403

    async def test_p6_withdrawal_needs_confirmation_then_reaches_identity(self, stack: Stack) -> None:
        wire_identity(stack)
        tenant, (facility_id,) = await network(stack)
        admin = stack.staff(tenant=tenant, facility_id=facility_id, roles=("facility_admin", "staff"))
        browser = cookie_of(stack, admin)
        client = stack["portal"].client
        unconfirmed = await client.post("/forms/facility-withdrawal", data={"csrf": CSRF}, headers=browser)
        assert unconfirmed.status_code == 422 and "同意が必要です。" in unconfirmed.text
        assert (await facility_row(stack, id=facility_id)).status == "active"  # type: ignore[union-attr]
        forged = await client.post(
            "/forms/facility-withdrawal", data={"csrf": "x", "confirm": "yes"}, headers=browser
        )
        assert forged.status_code == 403
        done = await client.post(
            "/forms/facility-withdrawal", data={"csrf": CSRF, "confirm": "yes"}, headers=browser
        )
        assert done.status_code == 200 and "利用を終了しました" in done.text
        assert (await facility_row(stack, id=facility_id)).status == "withdrawn"  # type: ignore[union-attr]

    async def test_p6_signed_out_visitors_are_sent_to_sign_in(self, stack: Stack) -> None:
        response = await stack["portal"].client.get(
            "/forms/facility-withdrawal", headers={"Accept": "text/html"}
        )
        assert response.status_code == 303 and "/staff/login" in response.headers["location"]
