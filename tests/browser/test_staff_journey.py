"""u1: the whole journey in Chromium behind the real gateway, from an application to support stopped."""

from __future__ import annotations

import re
from uuid import uuid4

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import new_context
from tests.browser.staff_ui import (
    NEW_PASSWORD,
    PASSWORD,
    Codes,
    Person,
    add_person,
    screenshot,
    trust_identity_keys,
)
from tests.support.gateway import Gateway
from tests.support.stack import Stack

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)
STOPPED = "同意が撤回されたため、支援を停止しました"


async def staff_login(page: Page, tenant: str, login_id: str, password: str, code: str | None) -> None:
    await page.goto("/staff/login")
    await page.locator("#tenant").fill(tenant)
    await page.locator("#login_id").fill(login_id)
    await page.locator("#password").fill(password)
    if code:
        await page.locator("#totp_code").fill(code)
    await page.get_by_role("button", name="ログイン", exact=True).click()


async def first_login(page: Page, tenant: str, login_id: str, initial_password: str) -> Codes:
    """Initial password → enrol the authenticator (pyotp reads the shown key) → own password → signed in."""
    await staff_login(page, tenant, login_id, initial_password, None)
    await expect(page).to_have_url(re.compile(r"/staff/first-login$"))
    codes = Codes((await page.locator("#totp-secret").inner_text()).strip())
    await page.locator("#totp_code").fill(codes.next())
    await page.locator("#new_password").fill(NEW_PASSWORD)
    await page.locator("#new_password_again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="設定する").click()
    await expect(page.locator(".flash")).to_contain_text("パスワードを変更しました")
    await staff_login(page, tenant, login_id, NEW_PASSWORD, codes.next())
    await expect(page).to_have_url(re.compile(r"/staff$"))
    return codes


async def test_u1_application_to_support_stopped(stack: Stack, gateway: Gateway, chromium: Browser) -> None:
    tenant = f"u1-{uuid4().hex[:8]}"
    operator = await add_person(
        stack,
        tenant=tenant,
        facility_name="Town office",
        kind="municipality",
        login_id="operator",
        name="Operator",
        roles=["operator"],
        create_network=True,
    )
    colleague: Person = await add_person(
        stack,
        tenant=tenant,
        facility_name="結訪問看護ステーション",
        kind="visiting_nurse",
        login_id="nurse",
        name="佐藤 花子",
        roles=["staff"],
    )
    await trust_identity_keys(stack)
    clinic_name = f"結クリニック {uuid4().hex[:4]}"
    admin_login = f"admin-{uuid4().hex[:6]}"

    # 1. The facility applies on the public site.
    public = await (await new_context(chromium, gateway)).new_page()
    await public.goto(f"/forms/facility-application?tenant={tenant}")
    await public.locator("#f-name").fill(clinic_name)
    await public.locator("#f-kind").select_option("clinic")
    await public.locator("#f-address").fill("愛知県豊明市1-1")
    await public.locator("#f-phone").fill("0562-00-0000")
    await public.locator("#f-administrator_name").fill("山田 太郎")
    await public.locator("#f-administrator_email").fill("yamada@example.jp")
    await public.locator("#f-administrator_login_id").fill(admin_login)
    await public.locator('input[name="pledge_accepted"]').check()
    await public.locator(
        'form[action*="facility-application"] button[type="submit"], '
        'form[action*="facility-application"] button:not([type])'
    ).first.click()
    await expect(public.locator("main")).to_contain_text(clinic_name)

    # 2. The operator approves it in the identity admin.
    op = await (await new_context(chromium, gateway)).new_page()
    await op.goto("/admin/login")
    await op.locator('input[name="tenant"]').fill(tenant)
    await op.locator('input[name="login_id"]').fill("operator")
    await op.locator('input[name="password"]').fill(PASSWORD)
    await op.locator('input[name="totp_code"]').fill(operator.codes.next())
    await op.locator('input[name="totp_code"]').press("Enter")
    await expect(op).to_have_url(re.compile(r"/admin"))
    await op.goto("/admin/applications")
    # Approving asks first (a confirmation page), then shows the approval notice once.
    await op.locator("tr", has_text=clinic_name).get_by_role("link", name="承認…").click()
    await op.get_by_role("button", name="承認する").click()
    initial_password = await op.locator("#initial-password").inner_text()
    access = [
        await op.locator("#access-code").inner_text(),
        await op.locator("#access-code-pin").inner_text(),
    ]

    # 3. The facility administrator takes the certificate with the access code, signs in, creates a user.
    admin_ctx = await new_context(chromium, gateway)
    admin = await admin_ctx.new_page()
    if len(access) == 2:
        await admin.goto("/staff/certificate")
        await admin.locator("#ac-tenant").fill(tenant)
        await admin.locator("#ac-code").fill(access[0])
        await admin.locator("#ac-pin").fill(access[1])
        await admin.locator("#ac-terminal").fill("clinic-pc")
        async with admin.expect_download() as download_info:
            await admin.get_by_role("button", name="証明書をダウンロード").click()
        download = await download_info.value
        assert download.suggested_filename.endswith(".p12")
    await first_login(admin, tenant, admin_login, initial_password)
    await admin.goto("/staff/facility/users")
    await admin.locator("#new-login").fill("doctor-a")
    await admin.locator("#new-name").fill("鈴木 一郎")
    await admin.get_by_role("button", name="職員を登録").click()
    user_password = (await admin.locator("#issued-password").inner_text()).strip()
    await screenshot(admin, "facility-users")

    # 4. The user signs in (password + TOTP), registers a subject with consent and invites a colleague.
    user_ctx = await new_context(chromium, gateway)
    user = await user_ctx.new_page()
    await first_login(user, tenant, "doctor-a", user_password)
    await user.goto("/staff/subjects/new")
    await user.locator("#name").fill("結 次郎")
    await user.locator("#name_kana").fill("ユイ ジロウ")
    await user.locator("#birth_date").fill("1938-05-05")
    await user.locator("#municipality_code").fill("232360")
    await user.locator("#given_on").fill("2026-11-01")
    await user.locator("#consent_form").set_input_files(
        files=[{"name": "consent.png", "mimeType": "image/png", "buffer": PNG}]
    )
    await user.get_by_role("button", name="登録する").click()
    await expect(user.locator("main")).to_contain_text("同意あり")
    subject_url = user.url.split("?")[0]
    # The colleague is found by name in the staff directory (issue 10), never by an id.
    await user.locator("summary", has_text="同僚を探して").click()
    await user.locator("#colleague-q").fill("佐藤")
    await user.get_by_role("button", name="探す").click()
    await user.get_by_role("button", name="佐藤 花子 さんを招待する").click()
    await expect(user.locator(".flash")).to_contain_text("招待しました")

    # 5. The colleague at another facility joins the care team and keeps the home page open.
    colleague_page = await (await new_context(chromium, gateway)).new_page()
    await staff_login(colleague_page, tenant, "nurse", PASSWORD, colleague.codes.next())
    await expect(colleague_page).to_have_url(re.compile(r"/staff$"))
    await colleague_page.get_by_role("button", name="参加する").click()
    await expect(colleague_page.locator(".flash")).to_contain_text("チームに参加しました")

    # 6. The user posts with a photo (uploaded by the page's script, with progress) mentioning the colleague.
    await user.goto(subject_url + "/timeline")
    await user.locator("#post-body").fill("本日訪問しました。創部の写真を添付します。")
    await user.get_by_label("佐藤 花子").check()
    await user.locator("#post-files").set_input_files(
        files=[{"name": "wound.png", "mimeType": "image/png", "buffer": PNG}]
    )
    async with user.expect_request(lambda r: "/attachments?filename=" in r.url and r.method == "POST"):
        await user.get_by_role("button", name="投稿", exact=True).click()
    await expect(user.locator(".flash")).to_contain_text("投稿しました")
    post = user.locator("article.post", has_text="本日訪問しました")
    await expect(post).to_contain_text("wound.png")
    await expect(post).to_contain_text("既読 0")
    await screenshot(user, "timeline")

    await user.goto("/staff")
    await screenshot(user, "home")

    # The colleague's open home page is told without reloading (server-sent events).
    await expect(colleague_page.locator("#live-notifications")).to_contain_text("あなた宛ての投稿があります")
    await expect(colleague_page.locator("#unread-badge")).not_to_be_empty()
    shown = await colleague_page.locator("#live-notifications li").evaluate_all(
        "items => items.map(i => i.id)"
    )
    assert len(shown) == len(set(shown)), shown

    # 7. The colleague reads it; the author sees the read mark.
    await colleague_page.goto(subject_url + "/timeline")
    await (
        colleague_page.locator("article.post", has_text="本日訪問しました")
        .get_by_role("link", name=re.compile("開く"))
        .click()
    )
    await expect(colleague_page.locator("main")).to_contain_text("本日訪問しました")
    await user.goto(subject_url + "/timeline")
    await expect(user.locator("article.post", has_text="本日訪問しました")).to_contain_text("既読 1")

    # 8. The subject withdraws; the cascade's progress shows until every service is done.
    await user.goto(subject_url)
    await user.locator("summary", has_text="撤回を記録する").click()
    await user.get_by_label("撤回すると、すべての施設で支援が停止されることを確認しました").check()
    await user.get_by_role("button", name="撤回を記録する").click()
    await expect(user.locator(".flash")).to_contain_text("同意の撤回を記録しました")
    await expect(user.locator("#withdrawal-progress")).to_contain_text(
        "支援停止が完了しました", timeout=30_000
    )
    await screenshot(user, "withdrawal")

    # 9. Both see "support stopped".
    for page in (user, colleague_page):
        await page.goto(subject_url + "/timeline")
        await expect(page.locator("main")).to_contain_text(STOPPED)
        await expect(page.locator("#post-form")).to_have_count(0)
