"""Browser tests: Debian's Chromium driven by Playwright against the stack behind the real nginx gateway."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.browser.staff_ui import PASSWORD, Person
from tests.support import gateway as gateway_fixtures
from tests.support.gateway import Gateway

gateway = gateway_fixtures.gateway  # one started gateway per pytest worker, shared by every browser test

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def new_context(
    chromium: Browser, gateway: Gateway, *, width: int = 1024, height: int = 768, **options: object
) -> BrowserContext:
    context = await chromium.new_context(
        base_url=gateway.url,
        ignore_https_errors=True,
        viewport={"width": width, "height": height},
        locale="ja-JP",
        accept_downloads=True,
        **options,  # type: ignore[arg-type]
    )
    context.set_default_timeout(20_000)
    return context


async def staff_login(page: Page, tenant: str, login_id: str, password: str, code: str | None) -> None:
    """The staff login form, filled in and sent (fields by id: their labels are what axe checks)."""
    await page.goto("/staff/login")
    await page.locator("#tenant").fill(tenant)
    await page.locator("#login_id").fill(login_id)
    await page.locator("#password").fill(password)
    if code:
        await page.locator("#totp_code").fill(code)
    await page.locator('form[action$="/staff/login"] button[type="submit"]').click()


async def signed_in_page(chromium: Browser, gateway: Gateway, person: Person, **options: object) -> Page:
    page = await (await new_context(chromium, gateway, **options)).new_page()  # type: ignore[arg-type]
    await staff_login(page, person.tenant, person.login_id, PASSWORD, person.codes.next())
    await expect(page).to_have_url(re.compile(r"/staff$"))
    return page
