"""Browser tests: Debian's Chromium driven by Playwright against the stack behind the real nginx gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright

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
