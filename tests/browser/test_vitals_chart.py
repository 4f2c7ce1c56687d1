"""rec3 (issue 16): vital signs as data. A visiting nurse records a week of vitals (the earlier days through
timeline's API with their measured time in the past, today's through the timeline page's 「バイタルを記録」 on a
768 px tablet), and the patient's 7-day page charts every day: seven points per measure, on the tablet's width,
with no id shown."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Browser, expect
from yui_common.web import DISPLAY_TIMEZONE

from tests.browser.conftest import signed_in_page
from tests.browser.staff_ui import prepared_scene, screenshot
from tests.browser.test_accessibility import serious_violations
from tests.browser.test_languages import JAPANESE
from tests.browser.test_no_uuid import TABLET_WIDTH, ids_shown
from tests.support.gateway import Gateway
from tests.support.stack import Stack, eventually

TODAY_VALUES = {"systolic": "128", "diastolic": "74", "pulse": "68", "spo2": "98", "temperature": "36.6"}


async def past_japans_midnight_if_near() -> None:
    """The 7-day window ends with today in Japan: a run that crossed midnight would see the oldest day move out
    under it. Within five minutes of midnight, start after it instead."""
    now = datetime.now(DISPLAY_TIMEZONE)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=2, microsecond=0)
    if midnight - now < timedelta(minutes=5):
        await asyncio.sleep((midnight - now).total_seconds())


@pytest.mark.timeout(900)
async def test_rec3_a_week_of_vitals_is_charted_seven_points_per_measure_at_768px(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    await past_japans_midnight_if_near()
    scene = await prepared_scene(stack)
    nurse = stack.staff(tenant=scene.tenant, user_id=scene.nurse.user_id, facility_id=scene.nurse.facility_id)
    today = datetime.now(DISPLAY_TIMEZONE).replace(hour=9, minute=0, second=0, microsecond=0)

    async def record(day: int) -> bool:
        answer = await stack["timeline"].client.post(
            f"/subjects/{scene.subject_id}/vitals",
            json={
                "measured_at": (today - timedelta(days=day)).isoformat(),
                "systolic": 120 + day,
                "diastolic": 70 + day,
                "pulse": 70 + day,
                "spo2": 96 + day % 3,
                "temperature": 36.2 + day / 10,
                "note": f"{day}日前の訪問",
            },
            headers=nurse.headers,
        )
        assert answer.status_code in (201, 404), answer.text  # 404 until timeline knows the nurse's team
        return answer.status_code == 201

    for day in range(6, 0, -1):
        await eventually(lambda day=day: record(day), what=f"timeline to take the vitals of {day} days ago")

    page = await signed_in_page(chromium, gateway, scene.nurse, width=TABLET_WIDTH, height=1024)
    # The charts are markup styled from staff.css: the gateway's CSP (no inline script or style) refuses nothing.
    refused_by_csp: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused_by_csp.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    await page.goto(f"/staff/subjects/{scene.subject_id}/timeline")
    await page.locator("summary", has_text="バイタルを記録").click()
    for name, value in TODAY_VALUES.items():
        field = page.locator(f"#vital-{name}")
        await expect(field).to_be_visible()
        assert await field.get_attribute("inputmode") in ("numeric", "decimal")
        await field.fill(value)
    # The measured time defaults to now (Japan's wall clock), so today's reading needs no date typed.
    default = await page.locator("#vital-measured_at").input_value()
    assert default.startswith(datetime.now(DISPLAY_TIMEZONE).strftime("%Y-%m-%dT"))
    await page.locator("#post-body").fill("本日の訪問。落ち着いています。")
    await page.locator("#post-form button[type=submit]").click()
    await expect(page.locator(".flash")).to_contain_text("バイタルを記録しました")
    await expect(page.locator("main")).to_contain_text("【バイタル】")

    await page.get_by_role("link", name="バイタルの推移").click()
    await expect(page.locator("h1")).to_contain_text("Jiro Yui")
    await expect(page.locator('.vitals-periods a[aria-current="page"]')).to_have_text("7日間")
    charts = page.locator("svg.vitals-chart")
    assert await charts.evaluate_all("svgs => svgs.map(s => s.dataset.measure)") == [
        "blood_pressure",
        "pulse",
        "spo2",
        "temperature",
    ]
    for measure, series in (
        ("blood_pressure", "systolic"),
        ("blood_pressure", "diastolic"),
        ("pulse", "pulse"),
        ("spo2", "spo2"),
        ("temperature", "temperature"),
    ):
        dots = page.locator(f'svg[data-measure="{measure}"] g.{series} circle.point')
        await expect(dots).to_have_count(7)
        # Each point's tooltip says when (Japan time), what and how much; the days run left to right.
        xs = await dots.evaluate_all("dots => dots.map(d => Number(d.getAttribute('cx')))")
        assert xs == sorted(xs) and len(set(xs)) == 7, (measure, series, xs)
    last = await page.locator('svg[data-measure="pulse"] g.pulse circle.point title').last.text_content()
    assert (
        last is not None
        and "脈拍 68 回/分" in last
        and datetime.now(DISPLAY_TIMEZONE).strftime("%Y-%m-%d") in last
    )
    # The charts fit the tablet: drawn to its width, the page no wider than it.
    box = await charts.first.bounding_box()
    assert box is not None and 300 < box["width"] <= TABLET_WIDTH
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= TABLET_WIDTH
    # The table: seven entries, newest first, who recorded them by name (profession, facility).
    rows = page.locator(".vitals-table tbody tr")
    await expect(rows).to_have_count(7)
    await expect(rows.first).to_contain_text("128/74")
    await expect(rows.first).to_contain_text("Hanako Sato（")
    await expect(rows.last).to_contain_text("126/76")
    assert await ids_shown(page) == []
    await screenshot(page, "vitals-768px", full_page=True)

    # The longer periods hold the same week.
    await page.get_by_role("link", name="30日間").click()
    await expect(page.locator('svg[data-measure="pulse"] g.pulse circle.point')).to_have_count(7)
    # In English, charts and table included, nothing is left in Japanese but the people's and places' names.
    await page.goto(f"/staff/subjects/{scene.subject_id}/vitals?lang=en")
    await expect(page.locator("h1")).to_contain_text("Vital signs")
    shown = await page.locator("main").inner_text()
    titles = await page.locator("svg.vitals-chart title").all_text_contents()
    assert any("Pulse 68 /min" in t for t in titles), titles[:5]
    for data in scene.data:
        shown = shown.replace(data, "")
    assert not JAPANESE.findall(shown + "".join(titles)), shown[:500]
    assert refused_by_csp == []
    await page.context.close()

    # axe finds nothing serious in the charts and the table (its script needs the CSP bypassed, so apart; the
    # doctor of the team reads them, as the nurse's authenticator code has just been used).
    checked = await signed_in_page(
        chromium, gateway, scene.doctor, width=TABLET_WIDTH, height=1024, bypass_csp=True
    )
    await checked.goto(f"/staff/subjects/{scene.subject_id}/vitals")
    assert await serious_violations(checked) == []
    await checked.context.close()
