"""rec5 (issue 16): a hospital's discharge summary imported. On a 768 px tablet the visiting nurse registers the
patient the JP-CLINS fixture letter is made out to (結 花子, born 1940-04-01), opens 「病院からの文書」, uploads the
fixture through the page's file input, reads the letter (hospital, author, sections as text), takes its amlodipine
onto the medication list with 「取り込む」, sees it taken by her name, and finds it on the medications page once,
marked as imported. No id shown, nothing serious for axe."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Browser, expect

from services.portal.tests.test_staff_pages import timeline_knows
from tests.browser.conftest import new_context, signed_in_page
from tests.browser.staff_ui import prepared_scene, screenshot
from tests.browser.test_accessibility import serious_violations
from tests.browser.test_no_uuid import TABLET_WIDTH, ids_shown
from tests.support.gateway import Gateway
from tests.support.stack import Stack

FIXTURE = (
    Path(__file__).resolve().parents[2]
    / "services"
    / "timeline"
    / "tests"
    / "fixtures"
    / "jp_clins_discharge_summary.json"
)
AMLODIPINE = "アムロジピン錠5mg「サワイ」"


async def test_rec5_a_discharge_summary_is_uploaded_and_a_medication_taken_onto_the_list_at_768px(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    page = await signed_in_page(chromium, gateway, scene.nurse, width=TABLET_WIDTH, height=1024)
    refused_by_csp: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused_by_csp.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    # The nurse registers the letter's patient (she is then on the care team).
    await page.goto("/staff/subjects/new")
    await page.locator("#name").fill("結 花子")
    await page.locator("#name_kana").fill("ユイ ハナコ")
    await page.locator("#birth_date").fill("1940-04-01")
    municipality = page.locator("#municipality_code")
    if await municipality.evaluate("e => e.tagName") == "INPUT":
        await municipality.fill("232360")
    await page.locator("#given_on").fill("2026-11-01")
    await page.get_by_role("button", name="登録する").click()
    await expect(page).to_have_url(re.compile(r"/staff/subjects/[0-9a-f-]{36}\?done=registered"))
    subject_id = page.url.split("/staff/subjects/")[1].split("?")[0]
    await timeline_knows(stack, subject_id, scene.nurse.user_id)

    # 「病院からの文書」: the fixture uploaded through the file input.
    await page.get_by_role("link", name="病院からの文書").click()
    await expect(page.locator("h1")).to_contain_text("結 花子")
    await expect(page.locator(".imports-empty")).to_be_visible()
    await page.locator("#import-file").set_input_files(FIXTURE)
    await page.locator(".import-upload").get_by_role("button", name="取り込む").click()

    # The letter, readable: who wrote it, where and when, its sections as text, and six offers.
    await expect(page.locator(".flash")).to_contain_text("文書を取り込みました")
    await expect(page.locator("h1")).to_contain_text("退院時サマリー（誤嚥性肺炎）")
    facts = page.locator("dl.facts")
    for text in ("結 花子", "結総合病院", "三好 健太", "Hanako Sato（"):
        await expect(facts).to_contain_text(text)
    letter = page.locator(".import-letter")
    await expect(letter).to_contain_text("入院中経過")
    await expect(letter).to_contain_text("とろみ付きの全粥・軟菜食とした。")
    offers = page.locator("li.import-offer")
    await expect(offers).to_have_count(6)
    await expect(offers.get_by_role("button", name="取り込む")).to_have_count(6)

    # One medication taken in: shown as taken, by whom, its buttons gone; the others still offered.
    amlodipine = offers.filter(has_text=AMLODIPINE)
    await expect(amlodipine).to_have_count(1)
    await amlodipine.get_by_role("button", name="取り込む").click()
    await expect(page.locator(".flash")).to_contain_text("取り込みました")
    amlodipine = page.locator("li.import-offer", has_text=AMLODIPINE)
    await expect(amlodipine.locator(".offer-status")).to_have_text("取り込み済み")
    await expect(amlodipine).to_contain_text("Hanako Sato")
    await expect(amlodipine.get_by_role("button")).to_have_count(0)
    await expect(page.locator("li.import-offer.offered")).to_have_count(5)
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= TABLET_WIDTH
    assert await ids_shown(page) == []
    # The screenshot: the letter's head and its offers (the sections below run on for pages).
    await page.set_viewport_size({"width": TABLET_WIDTH, "height": 1500})
    await screenshot(page, "hospital-letter-768px")

    # On the medication list once, marked as taken from the hospital's letter.
    await page.goto(f"/staff/subjects/{subject_id}/medications")
    taken = page.locator(".medications-current .medication", has_text=AMLODIPINE)
    await expect(taken).to_have_count(1)
    await expect(taken.locator(".medication-import")).to_have_text("病院からの取り込み")
    await expect(page.locator(".medications-current .medication")).to_have_count(1)
    assert await ids_shown(page) == []
    # The letters' list counts it.
    await page.goto(f"/staff/subjects/{subject_id}/imports")
    await expect(page.locator(".import-item")).to_contain_text("取り込み済み 1 件")
    assert await ids_shown(page) == []
    letter_path = await page.locator(".import-item a").first.get_attribute("href")
    assert letter_path is not None
    assert refused_by_csp == []

    # axe finds nothing serious in the letter's page (its script needs the CSP bypassed, so in a context of its
    # own, with the nurse's session: her authenticator code has just been used).
    checked = await (
        await new_context(
            chromium,
            gateway,
            width=TABLET_WIDTH,
            height=1024,
            bypass_csp=True,
            storage_state=await page.context.storage_state(),
        )
    ).new_page()
    await page.context.close()
    await checked.goto(letter_path)
    await expect(checked.locator("li.import-offer")).to_have_count(6)
    assert await serious_violations(checked) == []
    await checked.context.close()
