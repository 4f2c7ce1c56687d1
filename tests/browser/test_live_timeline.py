"""n2: an open timeline shows a colleague's new post without reloading (server-sent events, then a fetch)."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.browser.conftest import signed_in_page
from tests.browser.staff_ui import prepared_scene
from tests.support.gateway import Gateway
from tests.support.stack import Stack


async def test_n2_a_new_post_appears_on_the_open_timeline_without_reloading(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    nurse = await signed_in_page(chromium, gateway, scene.nurse)
    timeline = f"/staff/subjects/{scene.subject_id}/timeline"
    async with nurse.expect_response(lambda r: r.url.endswith("/staff/notifications/stream")):
        await nurse.goto(timeline)
    posts = nurse.locator("#live-posts")
    await expect(posts).to_have_attribute("data-live-subject", scene.subject_id)
    navigations: list[str] = []
    nurse.on("framenavigated", lambda frame: navigations.append(frame.url))

    # The doctor writes from their own device (straight to timeline's API, as any client would).
    doctor = stack.staff(
        tenant=scene.tenant, user_id=scene.doctor.user_id, facility_id=scene.doctor.facility_id
    )
    written = await stack["timeline"].client.post(
        f"/subjects/{scene.subject_id}/posts",
        json={"category": "vital_signs", "body": "血圧 128/76、体温 36.5℃"},
        headers=doctor.headers,
    )
    assert written.status_code == 201, written.text

    await expect(posts).to_contain_text("血圧 128/76、体温 36.5℃")
    await expect(nurse.locator("#live-status")).to_contain_text("新しい投稿を表示しました")
    assert navigations == []  # no reload
