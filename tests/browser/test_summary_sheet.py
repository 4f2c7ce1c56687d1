"""rec1 (issue 16): a patient's summary and its emergency sheet. On a 768 px tablet the visiting nurse fills in the
summary from the timeline's link (large fields, a row added in a blank one, care level by name, DNAR by radio
button), saves it, sees it at a glance with the allergies first, and opens the emergency sheet, a one-page PDF;
the page shows no id, the gateway's CSP refuses nothing, and axe finds nothing serious."""

from __future__ import annotations

import io

from playwright.async_api import Browser, expect
from pypdf import PdfReader

from tests.browser.conftest import signed_in_page
from tests.browser.staff_ui import prepared_scene, screenshot
from tests.browser.test_accessibility import serious_violations
from tests.browser.test_languages import JAPANESE
from tests.browser.test_no_uuid import TABLET_WIDTH, ids_shown
from tests.support.gateway import Gateway
from tests.support.stack import Stack

TYPED = {
    "#allergies-0-substance": "ペニシリン",
    "#allergies-0-reaction": "発疹",
    "#family_doctor-name": "Taro Yamada",
    "#family_doctor-facility": "Yui Clinic",
    "#family_doctor-phone": "0561-00-1111",
    "#emergency_contacts-0-name": "結 一郎",
    "#emergency_contacts-0-relation": "長男",
    "#emergency_contacts-0-phone": "090-1111-2222",
    "#problems-0-name": "慢性心不全",
    "#acp-wishes": "自宅で最期を迎えたい",
}


async def test_rec1_the_nurse_fills_in_the_summary_at_768px_and_opens_the_emergency_sheet(
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
    await page.goto(f"/staff/subjects/{scene.subject_id}/timeline")
    await page.get_by_role("link", name="基本情報・緊急時情報").click()
    await expect(page.locator("h1")).to_contain_text("Jiro Yui")
    await expect(page.locator(".summary-none")).to_contain_text("まだ記入されていません")
    # Nothing written yet: the form is open, its fields large enough for a finger.
    for selector, value in TYPED.items():
        field = page.locator(selector)
        await expect(field).to_be_visible()
        box = await field.bounding_box()
        assert box is not None and box["height"] >= 44, (selector, box)
        await field.fill(value)
    assert await page.locator("#family_doctor-phone").get_attribute("type") == "tel"
    await page.locator("#care_level").select_option(label="要介護2")
    await page.get_by_label("DNAR（心肺蘇生を望まない）").check()
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= TABLET_WIDTH
    await page.get_by_role("button", name="保存する").click()

    await expect(page.locator(".flash")).to_contain_text("保存しました")
    allergies = page.locator(".summary-current .summary-item.allergies")
    await expect(allergies).to_contain_text("ペニシリン")
    await expect(allergies).to_have_class("summary-item allergies listed")
    current = page.locator(".summary-current")
    for text in (
        "第1版",
        "Hanako Sato（",
        "要介護2",
        "DNAR（心肺蘇生を望まない）",
        "結 一郎",
        "0561-00-1111",
    ):
        await expect(current).to_contain_text(text)
    await expect(page.locator(".summary-version .signature.valid")).to_have_count(1)
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= TABLET_WIDTH
    assert await ids_shown(page) == []
    await screenshot(page, "summary-768px", full_page=True)

    # The emergency sheet: one A4 page that says what the page says.
    link = page.get_by_role("link", name="救急医療情報シート（PDF）")
    await expect(link).to_be_visible()
    href = await link.get_attribute("href")
    assert href is not None
    answer = await page.request.get(href)
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(await answer.body()))
    text = reader.pages[0].extract_text()
    assert len(reader.pages) == 1
    assert "ペニシリン（発疹）" in text and "Taro Yamada（Yui Clinic）" in text and "要介護2" in text

    # In English nothing is left in Japanese but what was written (the data).
    await page.goto(f"/staff/subjects/{scene.subject_id}/summary?lang=en")
    await expect(page.locator("h1")).to_contain_text("Summary and emergency information")
    shown = await page.locator("main").inner_text()
    for data in (*scene.data, *TYPED.values()):
        shown = shown.replace(data, "")
    assert not JAPANESE.findall(shown), [
        shown[max(0, m.start() - 20) : m.end() + 20] for m in JAPANESE.finditer(shown)
    ][:3]
    assert refused_by_csp == []
    await page.context.close()

    checked = await signed_in_page(
        chromium, gateway, scene.doctor, width=TABLET_WIDTH, height=1024, bypass_csp=True
    )
    await checked.goto(f"/staff/subjects/{scene.subject_id}/summary")
    assert await serious_violations(checked) == []
    await checked.context.close()
