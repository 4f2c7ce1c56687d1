"""Referral pages in a browser at 768 px (issue 12, item 4): home's doctor refers the subject from the subject page
(the peer facility chosen by name, the agreement's categories ticked), the peer network's nurse finds the subject
under 「他地域から共有」, reads the timeline fetched from home and replies. axe finds nothing serious, no script is
refused by the CSP, nothing scrolls sideways, and no id is shown."""

from __future__ import annotations

import os

from playwright.async_api import Browser, Page, expect

from services.portal.tests.test_referral_pages import cookie, referral_offered, referred
from tests.browser.conftest import new_context, signed_in_page
from tests.browser.staff_ui import SCREENSHOTS, Codes, Person
from tests.browser.test_accessibility import serious_violations
from tests.browser.test_agreements import TABLET_WIDTH, check, watch_csp
from tests.support.gateway import Gateway
from tests.support.networks import NetworkWorld
from tests.support.stack import Stack


def browser_person(world: NetworkWorld, who: str) -> Person:
    user = world.people[who].user
    codes = Codes(user.totp_secret)
    codes.next()  # this step's code was spent when the network's people first signed in
    return Person(user.id, user.facility_id, world.tenant, user.login_id, user.display_name, codes)


async def page_as(chromium: Browser, gateway: Gateway, signed_in: dict[str, str]) -> Page:
    """A 768 px page with the CSP bypassed (axe's script needs it), holding a staff session of the same member
    (sealed by the portal, as tests/browser's other axe contexts are signed in): a second TOTP sign-in of the
    same person within one step would be refused as a replay."""
    context = await new_context(chromium, gateway, width=TABLET_WIDTH, height=1024, bypass_csp=True)
    name, _, value = signed_in["Cookie"].partition("=")
    await context.add_cookies([{"name": name, "value": value, "url": gateway.url}])
    return await context.new_page()


async def test_fed2_referral_made_and_answered_through_the_pages_on_a_tablet(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    home, peer, agreement_id = await referred(stack)
    subject_path = f"/staff/subjects/{home.ids['subject']}"
    await referral_offered(stack, home, cookie(stack, home, "doctor"))

    page = await signed_in_page(
        chromium, gateway, browser_person(home, "doctor"), width=TABLET_WIDTH, height=1024
    )
    refused = watch_csp(page)
    await page.goto(subject_path)
    section = page.locator("section.referrals")
    await expect(section.locator("h2")).to_have_text("他地域への紹介")
    await section.get_by_text("他地域の施設に紹介する").click()
    # Choosing the facility makes htmx fetch its categories and replace the boxes: tick them once the new
    # boxes are in place (htmx's request, swap and settle classes gone), or a tick can land on a replaced box.
    async with page.expect_response(lambda r: "/referrals/categories" in r.url):
        await page.locator("#referral-choice").select_option(f"{agreement_id}:{peer.clinic_id}")
    await page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    await page.locator("#referral-purpose").fill("退院後の通いと泊まりのため")
    await section.get_by_label("訪問").check()
    await section.get_by_label("その他").check()
    await check(page, refused)
    await section.get_by_role("button", name="紹介する").click()
    await expect(page.locator(".flash")).to_contain_text("紹介しました")
    await expect(section.locator(".referral-state")).to_have_text("共有中")
    await expect(section).to_contain_text(f"{peer.label}クリニック")
    await check(page, refused)
    if os.environ.get("YUI_SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await section.locator("details").evaluate("(d) => { d.open = true; }")
        await section.screenshot(path=str(SCREENSHOTS / "referral-home-768px.png"))

    other = await signed_in_page(
        chromium, gateway, browser_person(peer, "nurse"), width=TABLET_WIDTH, height=1024
    )
    other_refused = watch_csp(other)
    await other.get_by_role("link", name="他地域から共有").click()
    await expect(other.locator("h1")).to_have_text("他地域から共有")
    subject_link = other.get_by_role("link", name=f"網{home.label}秘匿 太郎", exact=True)
    for _ in range(60):
        if await subject_link.count():
            break
        await other.wait_for_timeout(500)
        await other.reload()
    await expect(other.locator(".shared-from").first).to_contain_text("から共有")
    await check(other, other_refused)
    await subject_link.click()
    await expect(other.locator("h1")).to_contain_text(f"網{home.label}秘匿 太郎")
    visit = other.locator("article.post", has_text=f"網{home.label}秘匿 訪問しました")
    await expect(visit.locator(".author")).to_have_text(
        f"網{home.label}秘匿 医師（医師、{home.label}クリニック）"
    )
    await visit.locator("textarea").fill("施設で受け入れました")
    await visit.get_by_role("button", name="返信").click()
    await expect(other.locator(".flash")).to_contain_text("投稿しました")
    await expect(other.locator("article.reply", has_text="施設で受け入れました")).to_have_count(1)
    await check(other, other_refused)
    shared_timeline = other.url
    if os.environ.get("YUI_SAVE_SCREENSHOTS") == "1":
        await other.evaluate("() => window.scrollTo(0, 0)")
        await other.screenshot(path=str(SCREENSHOTS / "referral-shared-768px.png"), full_page=True)

    # axe on each page (its script needs the CSP bypassed, so in contexts of their own).
    audited = await page_as(chromium, gateway, cookie(stack, home, "doctor"))
    await audited.goto(subject_path)
    await audited.locator("section.referrals details").evaluate("(d) => { d.open = true; }")
    assert await serious_violations(audited) == [], subject_path
    end_link = audited.get_by_role("link", name="紹介を終了する")
    await end_link.click()
    await expect(audited.locator("h1")).to_have_text("紹介を終了しますか")
    assert await serious_violations(audited) == [], "end confirmation"
    peer_audited = await page_as(chromium, gateway, cookie(stack, peer, "nurse"))
    for path in ("/staff/shared", shared_timeline):
        await peer_audited.goto(path)
        assert await serious_violations(peer_audited) == [], path
