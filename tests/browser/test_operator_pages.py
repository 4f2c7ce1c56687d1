"""ux7: the operator's side to the staff UI's standard. Every /admin and /operator page (enumerated from the
routers, with data in them) passes axe, fits 1280 px and 768 px, shows Japan time and no type code; approving,
rejecting and suspending each ask first; the maintenance switch says what it needs; /operator signs in to
/operator."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import new_context
from tests.browser.staff_ui import NEW_PASSWORD, PASSWORD, Person, add_person, trust_identity_keys
from tests.browser.test_accessibility import serious_violations
from tests.support.gateway import Gateway
from tests.support.stack import Stack, eventually

TYPE_CODES = re.compile(
    r"\b(clinic|visiting_nurse|nursing_station|pharmacy|hospital|care_office|municipality)\b"
)
NOT_JAPAN_TIME = re.compile(r"\+00:00|\d{2}:\d{2}:\d{2}\.\d+|\d{4}-\d{2}-\d{2}T\d{2}")
WIDTHS = (1280, 768)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Kept in docs/screenshots/ when asked (YUI_SAVE_SCREENSHOTS=1): page and width.
SHOWN = {
    ("/admin/applications", 768): "admin-applications-768px",
    ("/admin/audit?user_name=%E4%BD%90%E8%97%A4", 1280): "admin-audit-search",
    ("/operator", 768): "operator-768px",
}


def application(tenant: str, name: str, kind: str, login_id: str) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "name": name,
        "kind": kind,
        "address": "愛知県豊明市栄町1-1",
        "phone": "0562-00-0000",
        "administrator_name": f"{name} 管理者",
        "administrator_email": f"{login_id}@example.jp",
        "administrator_login_id": login_id,
        "pledge_accepted": True,
    }


async def apply(stack: Stack, tenant: str, name: str, kind: str) -> UUID:
    body = application(tenant, name, kind, f"adm-{uuid4().hex[:6]}")
    answer = await stack["identity"].client.post("/facility-applications", json=body)
    assert answer.status_code == 202, answer.text
    return UUID(answer.json()["id"])


async def facility_status(stack: Stack, facility_id: UUID) -> str:
    from identity.models import Facility

    async with stack["identity"].sessionmaker() as session:
        facility = await session.get(Facility, facility_id)
        assert facility is not None
        return facility.status


async def user_status(stack: Stack, user_id: UUID) -> str:
    from identity.models import User

    async with stack["identity"].sessionmaker() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user.status


async def admin_sign_in(page: Page, operator: Person) -> None:
    await page.goto("/admin/login")
    await page.locator("#tenant").fill(operator.tenant)
    await page.locator("#login_id").fill(operator.login_id)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#totp_code").fill(operator.codes.next())
    await page.get_by_role("button", name="ログイン").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))


async def problems_of(page: Page, width: int) -> list[str]:
    """What is wrong with the page as shown: axe, sideways scrolling, UTC or raw times, type codes."""
    found = await serious_violations(page)
    fits = await page.evaluate(f"() => document.documentElement.scrollWidth <= {width}")
    if not fits:
        found.append("the page scrolls sideways")
    text = await page.evaluate("() => document.body.innerText")
    found += [f"time not in Japan time: {m!r}" for m in NOT_JAPAN_TIME.findall(text)[:3]]
    found += [f"type code shown: {m!r}" for m in TYPE_CODES.findall(text)[:3]]
    return found


def get_routes(router: Any) -> list[str]:
    """The paths of a router's GET routes, those of routers it includes too (their paths under its prefix)."""
    paths = []
    for route in router.routes:
        if hasattr(route, "original_router"):  # FastAPI keeps an included router as one entry
            paths += [router.prefix + path for path in get_routes(route.original_router)]
        elif "GET" in getattr(route, "methods", set()):
            paths.append(route.path)
    return paths


def get_pages(router: Any, values: dict[str, str]) -> list[str]:
    """Every GET page of a router (not the CSV export), its path parameters filled in from ``values``."""
    return [
        re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
        for path in get_routes(router)
        if not path.endswith(".csv")
    ]


async def test_ux7_every_admin_and_operator_page_meets_the_staff_ui_standard(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    from identity.admin.api import router as admin_router
    from identity.audit_search.api import router as audit_router
    from portal.operations.pages import router as operator_router

    tenant = f"ux7-{uuid4().hex[:8]}"
    operator = await add_person(
        stack,
        tenant=tenant,
        facility_name="結町 高齢者支援課",
        kind="municipality",
        login_id="operator",
        name="運用 太郎",
        roles=["operator"],
        create_network=True,
    )
    nurse = await add_person(
        stack,
        tenant=tenant,
        facility_name="結訪問看護ステーション",
        kind="visiting_nurse",
        login_id="nurse",
        name="佐藤 花子",
        roles=["staff", "facility_admin"],
    )
    await trust_identity_keys(stack)
    # Data on every page: applications waiting, a patient and what the nurse did with it (audit entries).
    waiting = await apply(stack, tenant, "結薬局", "pharmacy")
    to_approve = await apply(stack, tenant, "結クリニック", "clinic")
    to_reject = await apply(stack, tenant, "結病院", "hospital")
    staff = stack.staff(tenant=tenant, facility_id=nurse.facility_id, user_id=nurse.user_id)
    registered = await stack["consent"].client.post(
        "/subjects",
        json={
            "name": "結 次郎",
            "name_kana": "ユイ ジロウ",
            "municipality_code": "232360",
            "confirm_not_duplicate": True,
        },
        headers=staff.headers,
    )
    assert registered.status_code == 201, registered.text
    await stack["consent"].client.get(f"/subjects/{registered.json()['id']}", headers=staff.headers)

    context = await new_context(chromium, gateway, width=1280, height=900, bypass_csp=True)
    page = await context.new_page()
    await admin_sign_in(page, operator)

    # Approving asks first: the confirmation page changes nothing; its button approves.
    await page.goto("/admin/applications")
    await page.locator("tr", has_text="結クリニック").get_by_role("link", name="承認…").click()
    await expect(page.get_by_role("heading", name="利用申請の承認")).to_be_visible()
    assert await facility_status(stack, to_approve) == "applied"
    approval_problems = await problems_of(page, 1280)
    await page.get_by_role("button", name="承認する").click()
    await expect(page.get_by_role("heading", name="利用申請を承認しました")).to_be_visible()
    assert await facility_status(stack, to_approve) == "active"
    for shown in ("#initial-password", "#access-code", "#access-code-pin"):
        assert (await page.locator(shown).inner_text()).strip()
    await expect(page.locator(".approval-notice")).to_contain_text("/staff/certificate")
    await expect(page.locator(".approval-notice")).to_contain_text("受付番号")
    approved_problems = await problems_of(page, 1280)
    if os.environ.get("YUI_SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / "admin-approval-notice.png"), full_page=True)

    # Rejecting asks first, and for the reason: without one nothing happens and the page says so.
    await page.goto("/admin/applications")
    await page.locator("tr", has_text="結病院").get_by_role("link", name="却下…").click()
    await expect(page.get_by_role("heading", name="利用申請の却下")).to_be_visible()
    assert await facility_status(stack, to_reject) == "applied"
    await page.locator("#reason").fill("所在地が対象地域の外です")
    await page.get_by_role("button", name="却下する").click()
    await expect(page.locator(".flash")).to_contain_text("却下しました")
    assert await facility_status(stack, to_reject) == "rejected"

    # Suspending a user asks first, for the reason too.
    await page.goto("/admin/users")
    await page.locator("tr", has_text="佐藤 花子").get_by_role("link", name="利用停止…").click()
    await expect(page.get_by_role("heading", name="利用者の利用停止")).to_be_visible()
    assert await user_status(stack, nurse.user_id) == "active"
    await page.locator("#reason").fill("端末の紛失の連絡があったため")
    await page.get_by_role("button", name="利用を停止する").click()
    await expect(page.locator(".flash")).to_contain_text("利用を停止しました")
    assert await user_status(stack, nurse.user_id) == "suspended"
    # And a facility the same way (the confirmation page only: the approved clinic stays active).
    await page.goto("/admin/facilities")
    await page.locator("tr", has_text="結クリニック").get_by_role("link", name="利用停止…").click()
    await expect(page.get_by_role("heading", name="施設の利用停止")).to_be_visible()
    await page.get_by_role("link", name="やめて一覧に戻る").click()
    assert await facility_status(stack, to_approve) == "active"

    # The operator's portal pages: signing in from /operator lands on /operator, not /staff.
    await page.goto("/operator")
    await expect(page).to_have_url(re.compile(r"/staff/login\?next=%2Foperator$"))
    await page.locator("#tenant").fill(tenant)
    await page.locator("#login_id").fill(operator.login_id)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#totp_code").fill(operator.codes.next())
    await page.locator('form[action$="/staff/login"] button[type="submit"]').click()
    await expect(page).to_have_url(re.compile(r"/operator$"))
    # Ending (or starting) maintenance without a reason: told on the page, beside the field.
    await page.get_by_role("button", name="メンテナンスモードにする").click()
    await expect(page.locator("#m-reason-error")).to_contain_text("停止の理由を入力してください")
    await expect(page.locator("#m-reason")).to_have_attribute("aria-invalid", "true")
    reason_problems = await problems_of(page, 1280)

    values = {"facility_id": str(waiting), "user_id": str(operator.user_id)}
    pages = [
        *get_pages(admin_router, values),
        *get_pages(audit_router, values),
        "/admin/audit?subject_name=%E7%B5%90",  # a patient by name: 結
        "/admin/audit?user_name=%E4%BD%90%E8%97%A4",  # a user by name: 佐藤
        *get_pages(operator_router, values),
    ]
    assert {
        "/admin/applications",
        "/admin/audit",
        "/operator",
        f"/admin/applications/{waiting}/approval",
    } <= set(pages)
    found: dict[str, list[str]] = {
        "approval confirmation": approval_problems,
        "approval notice": approved_problems,
        "maintenance without reason": reason_problems,
    }
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        for path in pages:
            response = await page.goto(path)
            assert response is not None and response.status < 400, (path, response and response.status)
            found[f"{path} @{width}px"] = await problems_of(page, width)
            if (path, width) in SHOWN and os.environ.get("YUI_SAVE_SCREENSHOTS") == "1":
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SCREENSHOTS / f"{SHOWN[path, width]}.png"), full_page=True)
    # The audit search showed people by name.
    await page.goto("/admin/audit?user_name=%E4%BD%90%E8%97%A4")
    await expect(page.locator("table.audit-entries")).to_contain_text("佐藤 花子（")
    assert not {where: problems for where, problems in found.items() if problems}, found


# What the contractor's console must show in words, never as its codes (statuses, rules) or ids.
CONSOLE_CODES = re.compile(
    r"\b(active|suspended|ending|ended|totp_or_certificate|certificate_only|totp_only|opt_in|opt_out|"
    r"stop|delete|export)\b|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
)


async def console_problems_of(page: Page, width: int) -> list[str]:
    found = await problems_of(page, width)
    text = await page.evaluate("() => document.body.innerText")
    return found + [f"code or id shown: {m.group(0)!r}" for m in CONSOLE_CODES.finditer(text)][:3]


async def contractor_first_sign_in(stack: Stack, page: Page) -> None:
    """A contractor account made as the command line makes it; its first sign-in in the browser: password,
    then a new password and the authenticator's code (as ten1 does it over HTTP)."""
    import pyotp
    from identity.platform import service as platform

    login_id = f"contractor-{uuid4().hex[:6]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        made = await platform.create_contractor(
            session, login_id=login_id, display_name="結 契約事業者", actor="test"
        )
    await page.goto("/admin/platform")
    await page.locator("#login_id").fill(login_id)
    await page.locator("#password").fill(made.initial_password)
    await page.locator('form[action$="/admin/platform/login"] button[type="submit"]').click()
    secret = await page.locator('input[name="secret"]').get_attribute("value")
    assert secret
    await page.locator("#totp_code").fill(pyotp.TOTP(secret).now())
    await page.locator("#current_password").fill(made.initial_password)
    await page.locator("#new_password").fill(NEW_PASSWORD)
    await page.locator("#new_password_again").fill(NEW_PASSWORD)
    await page.locator('form[action$="/admin/platform/first-sign-in"] button[type="submit"]').click()
    await expect(page).to_have_url(re.compile(r"/admin/platform$"))


async def network_status(stack: Stack, slug: str) -> str:
    from identity.models import Network

    async with stack["identity"].sessionmaker() as session:
        network = await session.get(Network, slug)
        assert network is not None
        return network.status


async def test_ux7_the_network_settings_and_the_contractors_console_meet_the_staff_ui_standard(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    from identity.network_end.pages import router as ending_router
    from identity.networks.pages import router as settings_router
    from identity.platform.api import router as console_router

    found: dict[str, list[str]] = {}
    # The operator's network settings.
    tenant = f"ux7n-{uuid4().hex[:8]}"
    operator = await add_person(
        stack,
        tenant=tenant,
        facility_name="結町 高齢者支援課",
        kind="municipality",
        login_id="operator",
        name="運用 太郎",
        roles=["operator"],
        create_network=True,
    )
    await trust_identity_keys(stack)
    context = await new_context(chromium, gateway, width=1280, height=900, bypass_csp=True)
    page = await context.new_page()
    await admin_sign_in(page, operator)
    settings_pages = get_pages(settings_router, {})
    assert settings_pages == ["/admin/network/settings"]
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        for path in settings_pages:
            response = await page.goto(path)
            assert response is not None and response.status < 400, (path, response and response.status)
            found[f"{path} @{width}px"] = await problems_of(page, width)
    await context.close()

    # The contractor's console: its first sign-in, a network made through it, suspended after a confirmation.
    context = await new_context(chromium, gateway, width=1280, height=900, bypass_csp=True)
    page = await context.new_page()
    await contractor_first_sign_in(stack, page)
    found["console after the first sign-in"] = await console_problems_of(page, 1280)
    slug = f"ux7c-{uuid4().hex[:6]}"
    await page.goto("/admin/platform/networks/new")
    for field, value in {
        "name": "結町 在宅ネット",
        "slug": slug,
        "municipality_codes": "232360",
        "operator_office": "結町 高齢者支援課",
        "support_hours": "平日 9:00-17:00",
        "retention_years": "5",
        "discontinuation_notice_months": "3",
        "max_attachment_mb": "50",
        "operator_name": "結 運用",
        "operator_name_kana": "ユイ ウンヨウ",
        "operator_login_id": "yui-op",
    }.items():
        await page.locator(f"#{field}").fill(value)
    await page.locator('form[action$="/admin/platform/networks"] button[type="submit"]').click()
    await expect(page.locator("code.secret")).to_be_visible()
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        found[f"network created @{width}px"] = await console_problems_of(page, width)
    # Suspending asks first: the confirmation page changes nothing; its button suspends.
    await page.goto(f"/admin/platform/networks/{slug}")
    await page.locator("#reason").fill("契約の終了")
    await page.locator('form[action$="/suspension/confirmation"] button[type="submit"]').click()
    await expect(page.get_by_role("heading", name=re.compile("停止しますか"))).to_be_visible()
    assert await network_status(stack, slug) == "active"
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        found[f"suspension confirmation @{width}px"] = await console_problems_of(page, width)
    await page.locator('form[action$="/suspension"] button[type="submit"]').click()
    await expect(page.locator(".flash")).to_be_visible()
    assert await network_status(stack, slug) == "suspended"
    # Its data written out (each service's part shown as it comes), then the end asked for, not done.
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.goto(f"/admin/platform/networks/{slug}/ending")
    await page.locator('form[action$="/exports"] button[type="submit"]').click()
    await expect(page.locator(".flash")).to_be_visible()
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        found[f"export requested @{width}px"] = await console_problems_of(page, width)

    async def export_done() -> bool:
        await page.reload()
        return await page.locator('form[action$="/end/confirmation"]').count() > 0

    await eventually(export_done, timeout=90, what="the export to be complete")
    await page.locator('form[action$="/end/confirmation"] button[type="submit"]').click()
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        found[f"end confirmation @{width}px"] = await console_problems_of(page, width)
    assert await network_status(stack, slug) == "suspended"

    pages = [  # every GET page (not the archive's download), the suspended network's
        path.replace("{slug}", slug)
        for path in [*get_routes(console_router), *get_routes(ending_router)]
        if not path.endswith("/archive")
    ]
    assert {
        "/admin/platform",
        f"/admin/platform/networks/{slug}",
        f"/admin/platform/networks/{slug}/ending",
    } <= set(pages)
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        for path in pages:
            response = await page.goto(path)
            assert response is not None and response.status < 400, (path, response and response.status)
            found[f"{path} @{width}px"] = await console_problems_of(page, width)
    await context.close()
    assert not {where: problems for where, problems in found.items() if problems}, found
