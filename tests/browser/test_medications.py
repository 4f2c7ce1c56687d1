"""rec2 (issue 16): a duplicate medication warned to the whole team. The network's operator imports the drug master
sample; the clinic's doctor lists ノルバスク錠5mg (結クリニック) through timeline's API; on a 768 px tablet the
visiting nurse searches the master from the medications page's form (htmx swaps the choices in), adds
アムロジピン錠5mg「サワイ」 from the city hospital, and sees the duplicate warning naming the ingredient and both
facilities, then the short banner on the timeline; no id shown, nothing serious for axe."""

from __future__ import annotations

from datetime import datetime
from importlib import resources

from playwright.async_api import Browser, expect
from yui_common.web import DISPLAY_TIMEZONE

from tests.browser.conftest import signed_in_page
from tests.browser.staff_ui import prepared_scene, screenshot
from tests.browser.test_accessibility import serious_violations
from tests.browser.test_no_uuid import TABLET_WIDTH, ids_shown
from tests.support.gateway import Gateway
from tests.support.stack import Stack, eventually

SAMPLE = resources.files("timeline.medications").joinpath("drug_master_sample.csv").read_bytes()
NORVASC = "2171022F2025"  # ノルバスク錠5mg, アムロジピンベシル酸塩
INGREDIENT = "アムロジピンベシル酸塩"


async def test_rec2_a_duplicate_is_shown_to_both_facilities_at_768px(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    operator = stack.staff(tenant=scene.tenant, roles=("operator",))
    imported = await stack["timeline"].client.put(
        "/drug-master", content=SAMPLE, headers={**operator.headers, "content-type": "text/csv"}
    )
    assert imported.status_code == 200, imported.text
    doctor = stack.staff(
        tenant=scene.tenant, user_id=scene.doctor.user_id, facility_id=scene.doctor.facility_id
    )

    async def listed() -> bool:
        answer = await stack["timeline"].client.post(
            f"/subjects/{scene.subject_id}/medications",
            json={
                "drug_code": NORVASC,
                "dose": "1回1錠 1日1回 朝食後",
                "start_date": datetime.now(DISPLAY_TIMEZONE).date().isoformat(),
                "facility": "結クリニック",
                "prescriber": "Taro Yamada",
            },
            headers=doctor.headers,
        )
        assert answer.status_code in (201, 404), answer.text  # 404 until timeline knows the doctor's team
        return answer.status_code == 201

    await eventually(listed, what="timeline to take the clinic's ノルバスク")

    page = await signed_in_page(chromium, gateway, scene.nurse, width=TABLET_WIDTH, height=1024)
    refused_by_csp: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused_by_csp.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    await page.goto(f"/staff/subjects/{scene.subject_id}/timeline")
    await page.get_by_role("link", name="お薬", exact=True).click()
    await expect(page.locator("h1")).to_contain_text("Jiro Yui")
    # One medication, one facility: nothing to warn of yet.
    await expect(page.locator(".medications-current .medication")).to_have_count(1)
    await expect(page.locator(".medication-warnings")).to_have_count(0)

    # The add form (folded while the list holds something): the drug master searched as one types.
    await page.locator("details.medication-add > summary").click()
    await page.locator("#drug-q").fill("アムロジピン")
    choice = page.locator("#drug-choices label.drug-choice", has_text="アムロジピン錠5mg「サワイ」")
    await expect(choice).to_be_visible()
    await expect(page.locator("#drug-choices label.drug-choice", has_text="ノルバスク錠5mg")).to_be_visible()
    await choice.locator("input[type=radio]").check()
    await page.locator("#med-dose").fill("1回1錠 1日1回 夕食後")
    # The facility defaults to the writer's own; this prescription came from the city hospital.
    await expect(page.locator("#med-facility")).to_have_value("Yui Nursing")
    await page.locator("#med-facility").fill("みよし市民病院")
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= TABLET_WIDTH
    await page.get_by_role("button", name="追加する").click()

    # Back on the page: the warning first, naming the ingredient, both brands and both facilities.
    await expect(page.locator(".flash")).to_contain_text("お薬を追加しました")
    warning = page.locator(".medication-warnings")
    await expect(warning).to_contain_text("重複投薬の可能性")
    await expect(warning).to_contain_text(f"同じ成分: {INGREDIENT}")
    for text in ("ノルバスク錠5mg（結クリニック）", "アムロジピン錠5mg「サワイ」（みよし市民病院）"):
        await expect(warning).to_contain_text(text)
    await expect(warning.locator(".muted")).to_contain_text("結クリニック")
    await expect(warning.locator(".muted")).to_contain_text("みよし市民病院")
    current = page.locator(".medications-current .medication")
    await expect(current).to_have_count(2)
    await expect(current.filter(has_text="アムロジピン錠5mg「サワイ」")).to_contain_text("Hanako Sato（")
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= TABLET_WIDTH
    assert await ids_shown(page) == []
    await screenshot(page, "medications-768px", full_page=True)

    # The timeline tells the team in one line, with the way to the list.
    await page.get_by_role("link", name="タイムラインへ").first.click()
    banner = page.locator(".medication-banner")
    await expect(banner).to_contain_text(f"重複投薬の可能性: {INGREDIENT}")
    await expect(banner.get_by_role("link", name="お薬を確認する")).to_be_visible()
    assert await ids_shown(page) == []
    assert refused_by_csp == []
    await page.context.close()

    # The clinic's doctor, the other facility, sees the same warning; axe finds nothing serious in it (its
    # script needs the CSP bypassed, so apart).
    checked = await signed_in_page(
        chromium, gateway, scene.doctor, width=TABLET_WIDTH, height=1024, bypass_csp=True
    )
    await checked.goto(f"/staff/subjects/{scene.subject_id}/medications")
    await expect(checked.locator(".medication-warnings")).to_contain_text("みよし市民病院")
    assert await serious_violations(checked) == []
    await checked.context.close()
