"""u2: every page of the journey in Japanese and in English, with no untranslated string."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page

from tests.browser.conftest import new_context, signed_in_page, staff_login
from tests.browser.staff_ui import Scene, prepared_scene
from tests.support.gateway import Gateway
from tests.support.stack import Stack

JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


def catalogue_keys() -> set[str]:
    from yui_common.web import catalogue

    return set(catalogue("ja")) | set(catalogue("en"))


async def check(page: Page, path: str, scene: Scene, keys: set[str], problems: list[str]) -> None:
    for lang in ("ja", "en"):
        joiner = "&" if "?" in path else "?"
        response = await page.goto(f"{path}{joiner}lang={lang}")
        if response is None or response.status >= 400:
            problems.append(f"{path} [{lang}]: answered {response.status if response else None}")
        html_lang = await page.locator("html").get_attribute("lang")
        text = await page.locator("main").inner_text()
        if html_lang != lang:
            problems.append(f"{path} [{lang}]: html lang is {html_lang}")
        raw = sorted(k for k in keys if k in text)
        if raw:
            problems.append(f"{path} [{lang}]: raw catalogue keys {raw[:5]}")
        if lang == "en":
            for data in scene.data:
                text = text.replace(data, "")
            found = JAPANESE.findall(text)
            if found:
                around = [text[max(0, m.start() - 20) : m.end() + 20] for m in JAPANESE.finditer(text)][:3]
                problems.append(f"{path} [en]: Japanese left in {around}")


async def test_u2_every_journey_page_in_japanese_and_english(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    keys = catalogue_keys()
    problems: list[str] = []

    # Signed out: the public application form, the admin's and the staff's sign-in, the access-code page.
    visitor = await (await new_context(chromium, gateway)).new_page()
    for path in (
        f"/forms/facility-application?tenant={scene.tenant}",
        "/admin/login",
        "/staff/login",
        "/staff/certificate",
    ):
        await check(visitor, path, scene, keys, problems)

    # First sign-in: the authenticator enrolment and password page.
    newcomer = await (await new_context(chromium, gateway)).new_page()
    await staff_login(newcomer, scene.tenant, scene.newcomer_login, scene.newcomer_password, None)
    # The sign-in's redirect lands before the page is checked (its cookie is what the check needs).
    await newcomer.wait_for_url(re.compile(r"/staff/first-login"))
    await check(newcomer, "/staff/first-login", scene, keys, problems)

    doctor = await signed_in_page(chromium, gateway, scene.doctor)
    subject = f"/staff/subjects/{scene.subject_id}"
    for path in (
        "/staff",
        "/staff/subjects",
        "/staff/subjects/new",
        subject,
        f"{subject}/timeline",
        f"{subject}/timeline?q=BP",
        f"{subject}/vitals",
        f"{subject}/summary",
        f"{subject}/medications",
        f"{subject}/imports",
        f"/staff/posts/{scene.post_id}",
        f"/staff/posts/{scene.post_id}/versions",
        "/staff/notifications",
        "/staff/support-requests",
        "/staff/groups",
        f"/staff/groups/{scene.group_id}",
        "/staff/exceptional-access",
        "/staff/sessions",
        "/staff/facility/users",
    ):
        await check(doctor, path, scene, keys, problems)
    nurse = await signed_in_page(chromium, gateway, scene.nurse)
    for path in ("/staff", "/staff/notifications", f"/staff/posts/{scene.post_id}"):
        await check(nurse, path, scene, keys, problems)
    assert not problems, "\n".join(problems)
