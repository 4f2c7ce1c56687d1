"""A timeline that reads like a conversation (issue 10): people by name, reading by being on screen, files that
open in the page.

ux2: a colleague created through identity who has never signed in is named (profession, facility) in the
mention list, the care team and as a post's author. ux4: scrolling marks what was seen as read, and the author
sees who read it on the timeline without opening it. ux5: a photo and a PDF open in the page's viewer and
nothing is downloaded unless 「ダウンロード」 is pressed.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from playwright.async_api import Browser, Download, Page, expect

from services.timeline.tests.timeline_support import PDF, png_bytes
from tests.browser.conftest import signed_in_page
from tests.browser.staff_ui import Scene, prepared_scene, screenshot
from tests.support.gateway import Gateway
from tests.support.stack import Stack, Staff, eventually


def token_of(stack: Stack, scene: Scene, person: Any, roles: tuple[str, ...] = ("staff",)) -> Staff:
    """The person's own token, minted by the stack (as identity would sign it at their sign-in)."""
    return stack.staff(
        tenant=scene.tenant, user_id=person.user_id, facility_id=person.facility_id, roles=roles
    )


async def write(stack: Stack, author: Staff, subject_id: str, body: str, **extra: Any) -> dict[str, Any]:
    answer = await stack["timeline"].client.post(
        f"/subjects/{subject_id}/posts",
        json={"category": "visit", "body": body, **extra},
        headers=author.headers,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def timeline_page(stack: Stack, reader: Staff, subject_id: str) -> dict[str, Any]:
    answer = await stack["timeline"].client.get(
        f"/subjects/{subject_id}/posts", params={"limit": 50}, headers=reader.headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def test_ux2_a_colleague_who_never_signed_in_is_named_in_mentions_care_team_and_posts(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    doctor = token_of(stack, scene, scene.doctor, roles=("facility_admin", "staff"))
    # The doctor, their facility's administrator, creates a pharmacist through identity's API.
    created = await stack["identity"].client.post(
        "/users",
        json={"login_id": "pharmacist", "display_name": "鈴木 薫", "profession": "pharmacist"},
        headers=doctor.headers,
    )
    assert created.status_code == 201, created.text
    colleague_id = UUID(created.json()["user"]["id"])
    colleague = stack.staff(tenant=scene.tenant, user_id=colleague_id, facility_id=scene.doctor.facility_id)

    async def invited() -> bool:  # consent invites people it has heard of from identity
        answer = await stack["consent"].client.post(
            f"/subjects/{scene.subject_id}/care-team",
            json={"user_id": str(colleague_id), "facility_id": str(scene.doctor.facility_id)},
            headers=doctor.headers,
        )
        return answer.status_code in (201, 204)

    await eventually(invited, what="consent to take the invitation of the new colleague")
    invitations = (
        await stack["consent"].client.get("/care-team/invitations", headers=colleague.headers)
    ).json()
    [invitation] = [i for i in invitations if i["subject_id"] == scene.subject_id]
    accepted = await stack["consent"].client.post(
        f"/care-team/invitations/{invitation['id']}/accept", headers=colleague.headers
    )
    assert accepted.status_code in (200, 204), accepted.text

    async def colleague_can_post() -> dict[str, Any] | None:
        answer = await stack["timeline"].client.post(
            f"/subjects/{scene.subject_id}/posts",
            json={"category": "medication", "body": "お薬を一包化しました。"},
            headers=colleague.headers,
        )
        return answer.json() if answer.status_code == 201 else None

    await eventually(colleague_can_post, what="timeline to know the colleague is on the team")

    label = "鈴木 薫（薬剤師、Yui Clinic）"
    nurse = await signed_in_page(chromium, gateway, scene.nurse, width=768, height=1024)
    await nurse.goto(f"/staff/subjects/{scene.subject_id}/timeline")
    await expect(nurse.locator(".mention-picker")).to_contain_text(label)
    await expect(nurse.locator("#post-addressee")).to_contain_text(label)
    post = nurse.locator("article.post", has_text="お薬を一包化しました。")
    await expect(post.locator(".author")).to_have_text(label)
    assert str(colleague_id) not in await nurse.locator("body").inner_text()

    await nurse.goto(f"/staff/subjects/{scene.subject_id}")
    await expect(nurse.locator("body")).to_contain_text(label)  # the care team section
    body = await nurse.locator("body").inner_text()
    assert str(colleague_id) not in body and "#" + str(colleague_id)[:8] not in body


async def test_ux4_scrolling_marks_posts_read_and_the_author_sees_who_read_them(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    doctor, nurse_token = token_of(stack, scene, scene.doctor), token_of(stack, scene, scene.nurse)
    oldest = await write(stack, doctor, scene.subject_id, "一番古い連絡: 褥瘡の処置を変更しました。")
    for n in range(12):
        await write(stack, doctor, scene.subject_id, f"訪問記録 {n + 1}\n" + "観察事項。" * 20)
    newest = (await timeline_page(stack, doctor, scene.subject_id))["items"][0]

    async def read_by_nurse(post_id: str) -> bool:
        items = (await timeline_page(stack, nurse_token, scene.subject_id))["items"]
        return next(i for i in items if i["id"] == post_id)["read_by_me"]

    nurse = await signed_in_page(chromium, gateway, scene.nurse, width=768, height=1024)
    async with nurse.expect_response(lambda r: r.url.endswith("/read-marks") and r.request.method == "POST"):
        await nurse.goto(f"/staff/subjects/{scene.subject_id}/timeline")
    await expect(nurse.locator(f"#post-{oldest['id']} .unread-mark")).to_have_text("未読")
    await expect(nurse.locator("#first-unread-link")).to_have_text("最初の未読へ")
    await eventually(lambda: read_by_nurse(newest["id"]), what="the post on screen to be marked read")
    assert not await read_by_nurse(oldest["id"])  # not yet on screen: still unread

    # The live timeline may swap the list while we look (a post arriving): scroll by id, again if it was replaced.
    async def scrolled_to_oldest() -> bool:
        return bool(
            await nurse.evaluate(
                "id => { const e = document.getElementById(id); if (e) e.scrollIntoView(); return !!e; }",
                f"post-{oldest['id']}",
            )
        )

    await eventually(scrolled_to_oldest, what="the oldest post scrolled into view")
    await eventually(lambda: read_by_nurse(oldest["id"]), what="the post scrolled to to be marked read")

    author = await signed_in_page(chromium, gateway, scene.doctor, width=768, height=1024)
    await author.goto(f"/staff/subjects/{scene.subject_id}/timeline")
    card = author.locator(f"#post-{oldest['id']}")
    await expect(card.locator(".read-by")).to_contain_text("既読 1人")
    await expect(card.locator(".read-by")).to_contain_text("Hanako Sato")
    assert author.url.endswith("/timeline")  # seen without opening the post


async def open_viewer(page: Page, link: str) -> None:
    await page.locator(link).first.click()
    await expect(page.locator("#attachment-viewer")).to_be_visible()


async def test_ux5_a_photo_and_a_pdf_open_in_the_page_viewer_and_nothing_downloads_unless_asked(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    scene = await prepared_scene(stack)
    doctor = token_of(stack, scene, scene.doctor)
    ids = []
    for filename, content in (("wound.png", png_bytes(1600, 1200)), ("care-plan.pdf", PDF)):
        uploaded = await stack["timeline"].client.post(
            f"/subjects/{scene.subject_id}/attachments",
            params={"filename": filename},
            content=content,
            headers={**doctor.headers, "Content-Type": "application/octet-stream"},
        )
        assert uploaded.status_code == 201, uploaded.text
        ids.append(uploaded.json()["id"])
    await write(stack, doctor, scene.subject_id, "褥瘡の写真とケアプランです。", attachment_ids=ids)

    nurse = await signed_in_page(chromium, gateway, scene.nurse, width=768, height=1024)
    downloads: list[Download] = []
    nurse.on("download", lambda download: downloads.append(download))
    timeline = f"/staff/subjects/{scene.subject_id}/timeline"
    await nurse.goto(timeline)

    await open_viewer(nurse, "a.view-attachment[data-viewer='image']")
    image = nurse.locator("#viewer-image")
    await expect(image).to_be_visible()
    await nurse.wait_for_function("document.getElementById('viewer-image').naturalWidth > 0")
    await screenshot(nurse, "photo-viewer")
    before = await image.evaluate("img => img.getBoundingClientRect().width")
    await nurse.locator("#attachment-viewer [data-zoom='in']").click()
    await nurse.wait_for_function(
        f"document.getElementById('viewer-image').getBoundingClientRect().width > {before}"
    )
    await nurse.locator("#viewer-close").click()
    await expect(nurse.locator("#attachment-viewer")).to_be_hidden()

    await open_viewer(nurse, "a.view-attachment[data-viewer='pdf']")
    pdf = nurse.locator("#viewer-pdf")
    await expect(pdf).to_be_visible()
    await expect(pdf).to_have_attribute("src", re.compile(r"/staff/attachments/[0-9a-f-]+/content$"))
    shown = nurse.frame_locator("#viewer-pdf")
    await expect(shown.locator("embed, body").first).to_be_attached()
    assert nurse.url.endswith(timeline)  # still on the page
    assert downloads == []

    async with nurse.expect_download() as asked:
        await nurse.locator("#viewer-download").click()
    assert (await asked.value).suggested_filename == "care-plan.pdf"
    assert len(downloads) == 1
