"""u3: no serious or critical axe violation on the main pages; the timeline usable at 768 px and on phones."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.browser.axe import axe_script
from tests.browser.conftest import new_context, signed_in_page
from tests.browser.staff_ui import prepared_scene
from tests.support.gateway import Gateway
from tests.support.stack import Stack

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def serious_violations(page: Page) -> list[str]:
    await page.add_script_tag(path=str(axe_script()))
    result: dict[str, Any] = await page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    assert result["testEngine"]["name"] == "axe-core" and result["url"].startswith("https://")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def no_horizontal_scroll(page: Page) -> bool:
    return bool(
        await page.evaluate(
            "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


async def test_u3_main_pages_have_no_serious_axe_violation(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    # axe is injected as a script: the page's own CSP (script-src 'self') is bypassed for this context only.
    visitor = await (await new_context(chromium, gateway, bypass_csp=True)).new_page()
    found: dict[str, list[str]] = {}
    for path in ("/staff/login", "/staff/certificate"):
        await visitor.goto(path)
        found[path] = await serious_violations(visitor)
    doctor = await signed_in_page(chromium, gateway, scene.doctor, bypass_csp=True)
    subject = f"/staff/subjects/{scene.subject_id}"
    for path in (
        "/staff",
        "/staff/subjects",
        "/staff/subjects/new",
        subject,
        f"{subject}/timeline",
        f"/staff/posts/{scene.post_id}",
        "/staff/notifications",
        "/staff/groups",
        f"/staff/groups/{scene.group_id}",
        "/staff/sessions",
        "/staff/facility/users",
    ):
        await doctor.goto(path)
        found[path] = await serious_violations(doctor)
    # And on a phone: wide tables scroll inside a labelled, focusable region, not the page.
    await doctor.set_viewport_size({"width": 375, "height": 740})
    for path in ("/staff", f"{subject}/timeline", "/staff/sessions", "/staff/facility/users"):
        await doctor.goto(path)
        found[f"{path} @375px"] = await serious_violations(doctor)
        if not await no_horizontal_scroll(doctor):
            found[f"{path} @375px"].append("the page scrolls sideways")
    assert not {p: v for p, v in found.items() if v}, found


async def test_u3_timeline_is_usable_at_768px_and_on_a_phone(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    timeline = f"/staff/subjects/{scene.subject_id}/timeline"
    for width, height in ((768, 1024), (375, 740)):
        page = await signed_in_page(
            chromium, gateway, scene.doctor if width == 768 else scene.nurse, width=width, height=height
        )
        await page.goto(timeline)
        assert await no_horizontal_scroll(page), f"horizontal scroll at {width} px"
        # The post form is reached from the keyboard: Tab until the text box has the focus.
        for _ in range(150):
            await page.keyboard.press("Tab")
            if await page.evaluate(
                "() => document.activeElement && document.activeElement.id === 'post-body'"
            ):
                break
        else:
            raise AssertionError(f"the post form is not reachable with Tab at {width} px")
        body = page.locator("#post-body")
        await expect(body).to_be_in_viewport()
        box = await body.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        await body.fill("Checked at the bedside")
        await page.get_by_role("button", name="投稿", exact=True).click()
        await expect(page.locator(".flash")).to_be_visible()
        assert await no_horizontal_scroll(page)
        if os.environ.get("YUI_SAVE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.evaluate("() => window.scrollTo(0, 0)")
            await page.screenshot(path=str(SCREENSHOTS / f"timeline-{width}px.png"))
