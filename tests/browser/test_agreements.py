"""The operator's 連携協定 pages in a browser at 768 px (issue 12, item 1): one network's operator proposes to a
network of the same deployment, choosing it by name once the base URL is typed (htmx), pasting the CA and ticking
the grid; the other network's operator accepts on their own pages after confirming. axe finds nothing serious, no
script is refused by the CSP, nothing scrolls sideways, and no id is shown."""

from __future__ import annotations

import re
from uuid import uuid4

from playwright.async_api import Browser, Page, expect
from yui_common import networks
from yui_common.events.identity import NetworkStateV1

from tests.browser.conftest import signed_in_page
from tests.browser.staff_ui import Person, add_person, screenshot, trust_identity_keys
from tests.browser.test_accessibility import serious_violations
from tests.support.federation import ca_certificate_pem
from tests.support.gateway import Gateway
from tests.support.stack import Stack

TABLET_WIDTH = 768
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


async def operator_of(stack: Stack, name: str) -> Person:
    """A network federation knows by name (identity's network event fills its projection so) and its operator."""
    tenant = f"agr-{uuid4().hex[:8]}"
    async with stack["federation"].sessionmaker() as session, session.begin():
        await networks.apply(session, tenant, NetworkStateV1(slug=tenant, name=name, version=1))
    return await add_person(
        stack,
        tenant=tenant,
        facility_name=f"{name} 運営事務局",
        kind="municipality",
        login_id="operator",
        name="運用 太郎",
        roles=["operator"],
        create_network=True,
    )


async def check(page: Page, refused_by_csp: list[str]) -> None:
    """Nothing refused by the CSP, nothing scrolling sideways, no id (axe runs apart: it needs the CSP bypassed)."""
    assert await page.evaluate(f"() => document.documentElement.scrollWidth <= {TABLET_WIDTH}")
    text = await page.evaluate("() => document.body.innerText")
    assert not UUID_TEXT.search(text), UUID_TEXT.findall(text)
    assert refused_by_csp == []


def watch_csp(page: Page) -> list[str]:
    refused: list[str] = []
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return refused


async def test_fed7_two_networks_agree_through_their_operators_pages_on_a_tablet(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    home = await operator_of(stack, "結ネット（画面）")
    peer = await operator_of(stack, "となりまちネット（画面）")
    await trust_identity_keys(stack)
    base_url = stack["federation"].settings.federation_base_url  # type: ignore[attr-defined]

    page = await signed_in_page(chromium, gateway, home, width=TABLET_WIDTH, height=1024)
    refused = watch_csp(page)
    await page.get_by_role("link", name="連携協定").first.click()
    await expect(page.locator("h1")).to_have_text("連携協定（広域連携）")
    await page.get_by_role("link", name="協定を提案する").click()
    await expect(page.locator("h1")).to_have_text("協定を提案する")

    # The peer network is offered by name once the address is given (htmx, on change).
    await page.locator("#peer-base-url").fill(base_url)
    await page.locator("#peer-ca").fill(ca_certificate_pem("となりまち CA"))
    await expect(page.locator("#peer-source option", has_text="となりまちネット（画面）")).to_have_count(1)
    await page.locator("#peer-source").select_option(label="となりまちネット（画面）")
    for box in ("doctor:visit", "doctor:vital_signs", "doctor:vitals", "nurse:visit", "nurse:medication"):
        await page.locator(f'input[name="grant"][value="{box}"]').check()
    await page.get_by_label("監査ログの検証値（相互確認）").check()
    await page.locator("#cache-limit").fill("48")
    await check(page, refused)
    await screenshot(page, "agreement-propose-768px", full_page=True)
    await page.locator("#propose-submit").click()

    await expect(page.locator("h1")).to_contain_text("となりまちネット（画面）との協定")
    await expect(page.locator("#agreement-state")).to_have_text("提案中")
    await expect(page.locator("#agreement-governing")).to_contain_text("結ネット（画面） の利用規約")
    await expect(page.locator("#agreement-ca")).to_contain_text("SHA-256")
    await check(page, refused)

    # The other network's operator, on their own pages: the proposal arrives as a signed message.
    other = await signed_in_page(chromium, gateway, peer, width=TABLET_WIDTH, height=1024)
    other_refused = watch_csp(other)
    row = other.get_by_role("link", name=re.compile("結ネット（画面）との協定"))
    for _ in range(60):
        await other.goto("/operator/agreements")
        if await row.count():
            break
        await other.wait_for_timeout(500)
    await expect(other.locator(".agreement-row")).to_contain_text("相手方提案")
    await check(other, other_refused)
    await row.click()
    await other.locator("#step-accept").click()
    await expect(other.locator("h1")).to_have_text("協定を承諾しますか")
    await other.locator("#accept-ca").fill(ca_certificate_pem("結 CA"))
    await check(other, other_refused)
    await other.locator("#confirm-step").click()
    await expect(other.locator("#agreement-state")).to_have_text("締結済み")
    await check(other, other_refused)

    # Back home, the acceptance has travelled back.
    for _ in range(60):
        await page.goto("/operator/agreements")
        if await page.locator(".agreement-state--accepted").count():
            break
        await page.wait_for_timeout(500)
    await expect(page.locator(".agreement-state--accepted")).to_have_text("締結済み")
    await check(page, refused)
    await page.get_by_role("link", name=re.compile("となりまちネット（画面）との協定")).click()
    await expect(page.locator("#agreement-state")).to_have_text("締結済み")
    await screenshot(page, "agreement-768px", full_page=True)
    detail = page.url

    # axe on each page (its script needs the CSP bypassed, so in a context of its own).
    audited = await signed_in_page(chromium, gateway, home, width=TABLET_WIDTH, height=1024, bypass_csp=True)
    for path in ("/operator/agreements", "/operator/agreements/new", detail, f"{detail}/suspend"):
        await audited.goto(path)
        assert await serious_violations(audited) == [], path
