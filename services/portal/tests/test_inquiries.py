"""P5: inquiries to the operator, with the operator's contact and support hours, whether it is open now
and when to expect the answer; stored and listed for the operator."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from portal.models import PortalSettings
from portal.public.hours import LOCAL_TIME, SupportHours
from sqlalchemy import text

from services.portal.tests.public_site_support import assert_problem, public_form_token
from tests.support.stack import Stack


def tenant() -> str:
    return f"inq-{uuid4().hex[:8]}"


def hours(**overrides: object) -> SupportHours:
    settings = PortalSettings(
        tenant="x",
        support_weekdays=[0, 1, 2, 3, 4],
        support_opens="09:00",
        support_closes="17:00",
        support_closed_periods=["12-29..01-03"],
        support_holidays=["2026-11-23"],
    )
    for name, value in overrides.items():
        setattr(settings, name, value)
    return SupportHours.of(settings)


def tokyo(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TIME)  # type: ignore[misc]


class TestSupportHours:
    def test_p5_weekday_office_hours_are_within(self) -> None:
        assert hours().is_within(tokyo(2026, 11, 20, 10, 0))  # a Friday
        assert not hours().is_within(tokyo(2026, 11, 20, 17, 0))
        assert not hours().is_within(tokyo(2026, 11, 20, 8, 59))

    def test_p5_weekends_holidays_and_the_new_year_are_closed(self) -> None:
        assert not hours().is_within(tokyo(2026, 11, 21, 10, 0))  # Saturday
        assert not hours().is_within(tokyo(2026, 11, 23, 10, 0))  # a holiday the operator entered
        assert not hours().is_within(tokyo(2026, 12, 29, 10, 0))
        assert not hours().is_within(tokyo(2027, 1, 3, 10, 0))

    def test_p5_the_next_opening_skips_closed_days(self) -> None:
        assert hours().next_opening(tokyo(2026, 11, 20, 18, 0)) == tokyo(2026, 11, 24, 9, 0)
        assert hours().next_opening(tokyo(2026, 12, 28, 17, 30)) == tokyo(2027, 1, 4, 9, 0)
        custom = hours(support_opens="08:30", support_closes="17:15", support_closed_periods=[])
        assert custom.is_within(tokyo(2026, 12, 29, 17, 0))


class TestContactForm:
    async def test_p5_the_page_shows_contact_hours_and_whether_open_now(self, stack: Stack) -> None:
        t = tenant()
        operator = stack.staff(tenant=t, roles=("operator",))
        await stack["portal"].client.patch(
            "/api/operator/settings",
            json={
                "operator_name": "市役所 高齢者支援課",
                "operator_phone": "0120-000-000",
                "support_opens": "08:30",
                "support_closes": "17:15",
            },
            headers=operator.headers,
        )
        page = await stack["portal"].client.get(f"/inquiries?tenant={t}", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert (
            "市役所 高齢者支援課" in page.text and "0120-000-000" in page.text and "08:30–17:15" in page.text
        )
        assert "現在、受付時間内です。" in page.text or "現在、受付時間外です。" in page.text

    async def test_p5_an_inquiry_is_stored_and_listed_for_the_operator(self, stack: Stack) -> None:
        t = tenant()
        client = stack["portal"].client
        token, browser = await public_form_token(client, f"/inquiries?tenant={t}")
        sent = await client.post(
            f"/inquiries?tenant={t}",
            data={
                "csrf": token,
                "name": "問合 花子",
                "email": "hanako@example.jp",
                "subject": "参加について",
                "body": "参加の条件を教えてください。",
            },
            headers=browser,
        )
        assert sent.status_code == 201 and "受け付けました" in sent.text
        assert "回答します" in sent.text
        operator = stack.staff(tenant=t, roles=("operator",))
        listed = await client.get("/api/operator/inquiries", headers=operator.headers)
        assert [(i["name"], i["subject"]) for i in listed.json()] == [("問合 花子", "参加について")]
        assert isinstance(listed.json()[0]["within_hours"], bool)
        staff = stack.staff(tenant=t, roles=("staff",))
        assert_problem(await client.get("/api/operator/inquiries", headers=staff.headers), 403, "forbidden")

    async def test_p5_errors_are_shown_per_field_in_japanese_and_english(self, stack: Stack) -> None:
        t = tenant()
        client = stack["portal"].client
        token, browser = await public_form_token(client, f"/inquiries?tenant={t}")
        ja = await client.post(
            f"/inquiries?tenant={t}",
            data={"csrf": token, "name": "", "email": "not-mail", "subject": "s", "body": "b"},
            headers=browser,
        )
        assert (
            ja.status_code == 422
            and "入力してください。" in ja.text
            and "形式が正しくありません。" in ja.text
        )
        en = await client.post(
            f"/inquiries?tenant={t}&lang=en",
            data={"csrf": token, "name": "", "email": "x@y.z", "subject": "s", "body": "b"},
            headers=browser,
        )
        assert en.status_code == 422 and "This field is required." in en.text
        async with stack["portal"].sessionmaker() as session:
            assert (
                await session.scalar(text("SELECT count(*) FROM inquiries WHERE tenant = :t"), {"t": t}) == 0
            )

    async def test_p5_a_form_without_its_csrf_token_is_refused(self, stack: Stack) -> None:
        t = tenant()
        response = await stack["portal"].client.post(
            f"/inquiries?tenant={t}", data={"name": "a", "email": "a@b.jp", "subject": "s", "body": "b"}
        )
        assert_problem(response, 403, "csrf")

    async def test_p5_the_page_has_no_inline_script(self, stack: Stack) -> None:
        page = await stack["portal"].client.get("/inquiries", headers={"Accept": "text/html"})
        assert "<script>" not in page.text and "onclick" not in page.text and "style=" not in page.text
