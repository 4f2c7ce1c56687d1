"""ux1 and ux8 in Chromium behind the real gateway: a care team built by name on a 768 px tablet, and a withdrawn
patient leaving the nurse's working list with their contact details hidden everywhere."""

from __future__ import annotations

import re
from uuid import uuid4

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import signed_in_page
from tests.browser.staff_ui import Person, add_person, screenshot, trust_identity_keys
from tests.support.gateway import Gateway
from tests.support.stack import Stack

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
TABLET = {"width": 768, "height": 1024}


async def assert_no_uuid_shown(page: Page) -> None:
    """No id in what the page shows: its text, the values of the fields one sees (ids only travel in URLs and
    hidden fields), and the chosen entry of each select."""
    text = await page.inner_text("body")
    assert not UUID_PATTERN.search(text), (page.url, UUID_PATTERN.findall(text))
    shown = await page.eval_on_selector_all(
        "input:not([type=hidden]), textarea",
        "fields => fields.map(f => f.value)",
    )
    chosen = await page.eval_on_selector_all(
        "select", "selects => selects.map(s => s.selectedOptions.length ? s.selectedOptions[0].text : '')"
    )
    for value in [*shown, *chosen]:
        assert not UUID_PATTERN.search(value), (page.url, value)


async def assert_fits(page: Page, width: int) -> None:
    scroll_width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll_width <= width, (page.url, scroll_width)


async def register_subject(page: Page, *, name: str, kana: str, **contact: str) -> str:
    """Through the registration form, consent included; the subject page's URL."""
    await page.goto("/staff/subjects/new")
    await assert_fits(page, TABLET["width"])
    await assert_no_uuid_shown(page)
    await page.locator("#name").fill(name)
    await page.locator("#name_kana").fill(kana)
    await page.locator("#birth_date").fill("1938-05-05")
    municipality = page.locator("#municipality_code")
    if await municipality.evaluate("e => e.tagName") == "INPUT":
        await municipality.fill("232360")
    for field, value in contact.items():
        await page.locator(f"#{field}").fill(value)
    await page.locator("#given_on").fill("2026-11-01")
    await page.get_by_role("button", name="登録する").click()
    await expect(page.locator("main")).to_contain_text("同意あり")
    return page.url.split("?")[0]


async def invite_by_name(
    page: Page, subject_url: str, *, search: str, person_name: str, shot: str | None = None
) -> None:
    """The way a doctor invites a colleague: the directory search, then the person's invite button."""
    await page.goto(subject_url)
    await page.locator("summary", has_text="同僚を探して").click()
    await page.locator("#colleague-q").fill(search)
    await page.get_by_role("button", name="探す").click()
    await expect(page.locator(".colleagues")).to_contain_text(person_name)
    await assert_no_uuid_shown(page)
    await assert_fits(page, TABLET["width"])
    if shot:
        await screenshot(page, shot, full_page=True)
    await page.get_by_role("button", name=f"{person_name} さんを招待する").click()
    await expect(page.locator(".flash")).to_contain_text("招待しました")
    await expect(page.locator(".invitations")).to_contain_text(person_name)
    await assert_no_uuid_shown(page)


async def test_ux1_a_doctor_builds_a_care_team_of_three_facilities_by_name_on_a_tablet(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    tenant = f"ux1-{uuid4().hex[:8]}"
    doctor = await add_person(
        stack,
        tenant=tenant,
        facility_name="結クリニック",
        kind="clinic",
        login_id="doctor",
        name="山田 太郎",
        roles=["facility_admin", "staff"],
        create_network=True,
    )
    colleagues: list[Person] = [
        await add_person(
            stack,
            tenant=tenant,
            facility_name=facility,
            kind=kind,
            login_id=login_id,
            name=name,
            roles=["staff"],
        )
        for facility, kind, login_id, name in (
            ("結訪問看護ステーション", "nursing_station", "nurse", "佐藤 花子"),
            ("結薬局", "pharmacy", "pharmacist", "鈴木 一郎"),
            ("結居宅介護支援事業所", "care_manager", "manager", "高橋 美咲"),
        )
    ]
    await trust_identity_keys(stack)
    page = await signed_in_page(chromium, gateway, doctor, **TABLET)
    subject_url = await register_subject(page, name="結 次郎", kana="ユイ ジロウ")
    for number, colleague in enumerate(colleagues):
        # By part of the family name only: what a nurse remembers of a colleague.
        await invite_by_name(
            page,
            subject_url,
            search=colleague.name.split(" ")[0],
            person_name=colleague.name,
            shot="team-invitation" if number == 0 else None,
        )
    await page.goto(subject_url)
    for colleague in colleagues:
        await expect(page.locator(".invitations")).to_contain_text(colleague.name)
    await assert_no_uuid_shown(page)

    for colleague in colleagues:
        invitee = await signed_in_page(chromium, gateway, colleague, **TABLET)
        invitation = invitee.locator("#invitations-h + ul li")
        # The home says who invited them, from which facility, to which patient's team.
        await expect(invitation).to_contain_text("結 次郎")
        await expect(invitation).to_contain_text("山田 太郎")
        await expect(invitation).to_contain_text("結クリニック")
        await assert_no_uuid_shown(invitee)
        await assert_fits(invitee, TABLET["width"])
        # Each invitee is notified with the patient's name (notify's part of issue 10).
        await invitee.goto("/staff/notifications")
        await expect(invitee.locator("main")).to_contain_text("結 次郎", timeout=30_000)
        await assert_no_uuid_shown(invitee)
        if colleague is colleagues[0]:
            await screenshot(invitee, "notifications")
        await invitee.goto("/staff")
        await invitee.get_by_role("button", name="参加する").click()
        await expect(invitee.locator(".flash")).to_contain_text("チームに参加しました")
        await invitee.context.close()

    await page.goto(subject_url)
    team = page.locator(".care-team")
    for colleague, facility in zip(
        colleagues, ("結訪問看護ステーション", "結薬局", "結居宅介護支援事業所"), strict=True
    ):
        await expect(team).to_contain_text(colleague.name)
        await expect(team).to_contain_text(facility)
    await assert_no_uuid_shown(page)
    await assert_fits(page, TABLET["width"])
    for path in ("/staff", "/staff/subjects"):
        await page.goto(path)
        await assert_no_uuid_shown(page)


ADDRESS, PHONE = "結市中央一丁目2番3号", "0561-00-1234"


async def test_ux8_a_withdrawn_patient_leaves_the_nurses_working_list_and_its_contact_details_are_hidden(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    tenant = f"ux8-{uuid4().hex[:8]}"
    doctor = await add_person(
        stack,
        tenant=tenant,
        facility_name="結クリニック",
        kind="clinic",
        login_id="doctor",
        name="山田 太郎",
        roles=["facility_admin", "staff"],
        create_network=True,
    )
    nurse = await add_person(
        stack,
        tenant=tenant,
        facility_name="結訪問看護ステーション",
        kind="nursing_station",
        login_id="nurse",
        name="佐藤 花子",
        roles=["staff"],
    )
    await trust_identity_keys(stack)
    page = await signed_in_page(chromium, gateway, doctor, **TABLET)
    subject_url = await register_subject(
        page, name="撤回 花子", kana="テッカイ ハナコ", address=ADDRESS, phone=PHONE
    )
    await invite_by_name(page, subject_url, search="佐藤", person_name="佐藤 花子")
    nurse_page = await signed_in_page(chromium, gateway, nurse, **TABLET)
    await nurse_page.get_by_role("button", name="参加する").click()
    await expect(nurse_page.locator(".flash")).to_contain_text("チームに参加しました")

    # Before: on the nurse's working list, address and phone on the patient's page; the nurse may not remove
    # the doctor (only leave herself).
    await nurse_page.goto("/staff/subjects")
    await expect(nurse_page.locator(".subjects")).to_contain_text("撤回 花子")
    await nurse_page.goto(subject_url)
    await expect(nurse_page.locator("main")).to_contain_text(PHONE)
    removals = nurse_page.locator(".care-team button")
    await expect(removals).to_have_count(1)
    await expect(removals).to_have_text("チームを抜ける")

    # The doctor records the withdrawal.
    await page.goto(subject_url)
    await page.locator("summary", has_text="撤回を記録する").click()
    await page.locator("input[name=confirmed]").check()
    await page.locator("form[action$='/withdrawals'] button[type=submit]").click()
    await expect(page.locator(".flash")).to_contain_text("同意の撤回を記録しました")

    # After: off the working list (and the home's), shown and marked under 支援停止 and すべて.
    await nurse_page.goto("/staff/subjects")
    await expect(nurse_page.locator(".subjects")).not_to_contain_text("撤回 花子")
    await nurse_page.get_by_role("link", name="支援停止", exact=True).click()
    stopped = nurse_page.locator(".subjects li", has_text="撤回 花子")
    await expect(stopped.locator(".status-badge")).to_have_text("支援停止")
    await nurse_page.get_by_role("link", name="すべて", exact=True).click()
    await expect(
        nurse_page.locator(".subjects li", has_text="撤回 花子").locator(".status-badge")
    ).to_have_text("支援停止")
    await nurse_page.goto("/staff")
    # The home's list of the nurse's patients (its notifications may say that support stopped, by name).
    await expect(nurse_page.locator("section[aria-labelledby=subjects-h]")).not_to_contain_text("撤回 花子")
    # Address and phone are in no page the nurse or the doctor can open.
    for viewer in (nurse_page, page):
        for path in (
            subject_url,
            "/staff/subjects?status=all",
            "/staff/subjects?status=support_stopped",
            "/staff",
        ):
            await viewer.goto(path)
            html = await viewer.content()
            assert ADDRESS not in html and PHONE not in html, (path, viewer.url)
    await nurse_page.goto(subject_url)
    await expect(nurse_page.locator("main")).to_contain_text("連絡先は表示しません")
    await assert_no_uuid_shown(nurse_page)
