"""ux3 in the browser: a notification names the patient, the author and an excerpt, and its link opens the post
(a reply inside its thread); grouped per patient on a 768 px tablet."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from services.notify.tests.notify_support import inbox
from tests.browser.conftest import signed_in_page
from tests.browser.staff_ui import Person, Scene, prepared_scene
from tests.support.gateway import Gateway
from tests.support.stack import Stack, eventually


async def named_in_notify(stack: Stack, scene: Scene, reader: Person, kind: str) -> None:
    """Names come from notify's projections, fed by identity's and consent's events: wait until they are in."""
    staff = stack.staff(tenant=scene.tenant, user_id=reader.user_id, facility_id=reader.facility_id)

    async def named() -> bool:
        found = [n for n in (await inbox(stack, staff))["items"] if n["kind"] == kind]
        return bool(found and found[0]["subject"]["name"] and found[0]["author"]["status"] != "unknown")

    await eventually(named, what=f"the {kind} notification to name the patient and the author")


async def test_ux3_a_notification_names_patient_author_and_excerpt_and_its_link_opens_the_post(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    await named_in_notify(stack, scene, scene.nurse, "post.mention")
    nurse = await signed_in_page(chromium, gateway, scene.nurse, width=768, height=1024)
    await nurse.goto("/staff/notifications")

    group = nurse.locator(f'[data-notification-group="{scene.subject_id}"]')
    await expect(group.locator(".notification-group-title")).to_have_text("Jiro Yuiさん")
    mention = group.locator("li.notification", has_text="あなた宛ての投稿があります")
    await expect(mention).to_contain_text("Taro Yamada（")
    await expect(mention).to_contain_text("Yui Clinic")
    await expect(mention.locator(".notification-excerpt")).to_contain_text(
        "Visited today. Blood pressure 128/76."
    )
    await expect(mention.locator("time")).to_have_text(re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$"))
    # A tablet in portrait: nothing wider than the screen.
    assert await nurse.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    await mention.get_by_role("link", name="投稿を開く").click()
    await expect(nurse).to_have_url(re.compile(rf"/staff/posts/{scene.post_id}$"))
    await expect(nurse.locator(f"#post-{scene.post_id}")).to_contain_text("Visited today.")


async def test_ux3_a_reply_notification_opens_the_thread_at_the_reply(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    await named_in_notify(stack, scene, scene.doctor, "post.reply")
    doctor = await signed_in_page(chromium, gateway, scene.doctor)
    await doctor.goto("/staff/notifications")

    reply = doctor.locator("li.notification", has_text="返信があります")
    await expect(reply).to_contain_text("Jiro Yuiさん")
    await expect(reply).to_contain_text("Hanako Sato（")
    await expect(reply.locator(".notification-excerpt")).to_have_text(re.compile("Noted, thanks."))
    await reply.get_by_role("link", name="投稿を開く").click()
    await expect(doctor).to_have_url(re.compile(rf"/staff/posts/{scene.post_id}#post-[0-9a-f-]{{36}}$"))
    anchor = doctor.url.split("#")[1]
    await expect(doctor.locator(f"#{anchor}")).to_contain_text("Noted, thanks.")
