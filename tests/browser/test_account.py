"""ux6: one's own account in the staff UI — a password changed, the network's periodic change at sign-in, an
authenticator enrolled from the QR code — on a 768 px tablet, with the axe check on each account page.

The QR code is checked by reading it back: the test turns the page's inline SVG into its grid of dark modules and
compares that grid with segno's encoding of the otpauth:// URI the page offers (「この端末の認証アプリで開く」),
then signs in with a code computed from that URI (pyotp), as a phone that scanned it would."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pyotp
import segno
from playwright.async_api import Browser, Page, expect
from sqlalchemy import update

from tests.browser.conftest import new_context, staff_login
from tests.browser.staff_ui import NEW_PASSWORD, PASSWORD, Codes, Person, make_network, trust_identity_keys
from tests.browser.test_accessibility import no_horizontal_scroll, serious_violations
from tests.support.gateway import Gateway
from tests.support.stack import Stack

TABLET = {"width": 768, "height": 1024}


async def tablet_page(chromium: Browser, gateway: Gateway) -> Page:
    # axe is injected as a script: the page's own CSP is bypassed for this context only.
    context = await new_context(chromium, gateway, bypass_csp=True, **TABLET)
    return await context.new_page()


async def checked(page: Page) -> None:
    """The account pages' standard: no serious axe violation, nothing wider than the tablet."""
    assert await serious_violations(page) == [], page.url
    assert await no_horizontal_scroll(page), page.url


def modules_of(svg: str) -> set[tuple[int, int]]:
    """The dark modules of segno's inline SVG. Its stroked path (the filled one is the white ground) draws
    horizontal runs: "M x y" / "m dx dy" move, "h n" draws n modules on the row ``y - 0.5`` (the stroke is one
    module wide, centred)."""
    path = re.search(r'<path[^>]*\bstroke="[^"]*"[^>]*\bd="([^"]+)"', svg)
    assert path, svg[:200]
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHh])([-0-9. ]+)", path.group(1).replace(",", " ")):
        values = [float(v) for v in numbers.split()]
        if command == "M":
            x, y = values[0], values[1]
        elif command == "m":
            x, y = x + values[0], y + values[1]
        else:
            run = values[0]
            start = x if command == "h" else 0
            dark.update((int(start + i), int(y - 0.5)) for i in range(int(run)))
            x = start + run
    return dark


def expected_modules(uri: str, border: int) -> set[tuple[int, int]]:
    code = segno.make(uri, error="m")
    return {
        (column + border, row + border)
        for row, line in enumerate(code.matrix)
        for column, value in enumerate(line)
        if value
    }


async def set_password_policy(stack: Stack, person: Person, *, max_age_days: int, age_days: int) -> None:
    from identity.models import Network, User

    async with stack["identity"].sessionmaker() as session, session.begin():
        await session.execute(
            update(Network).where(Network.slug == person.tenant).values(password_max_age_days=max_age_days)
        )
        await session.execute(
            update(User)
            .where(User.id == person.user_id)
            .values(password_changed_at=datetime.now(UTC) - timedelta(days=age_days))
        )


async def test_ux6_a_user_changes_their_password_on_the_account_page(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    network = await make_network(stack)
    await trust_identity_keys(stack)
    nurse = network.nurse
    page = await tablet_page(chromium, gateway)
    await staff_login(page, nurse.tenant, nurse.login_id, PASSWORD, nurse.codes.next())
    await expect(page).to_have_url(re.compile(r"/staff$"))

    await page.get_by_role("link", name="アカウント").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("アカウント")
    await expect(page.locator("#profile-facility")).to_have_text("結訪問看護")
    await expect(page.locator("#profile-profession")).to_have_text("その他")
    await checked(page)
    await page.locator("#profile-kana").fill("さとう はなこ")
    await page.get_by_role("button", name="保存する").click()
    await expect(page.locator("p.flash[role=status]")).to_contain_text("プロフィールを保存しました")
    await expect(page.locator("#profile-kana")).to_have_value("さとう はなこ")

    await page.get_by_role("link", name="パスワードを変更する").click()
    await checked(page)
    await page.locator("#current_password").fill("wrong-Password-1")
    await page.locator("#new_password").fill(NEW_PASSWORD)
    await page.locator("#new_password_again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="パスワードを変更する").click()
    await expect(page.get_by_role("alert")).to_have_text("現在のパスワードが違います。")
    await page.locator("#current_password").fill(PASSWORD)
    await page.locator("#new_password").fill(NEW_PASSWORD)
    await page.locator("#new_password_again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="パスワードを変更する").click()
    await expect(page.locator("p.flash[role=status]")).to_contain_text("パスワードを変更しました")
    await expect(page).to_have_url(re.compile(r"/staff/account\?done=own_password_changed$"))

    await page.get_by_role("button", name="ログアウト").click()
    # The old password no longer signs in (no code spent on it: each code is the next step's).
    await staff_login(page, nurse.tenant, nurse.login_id, PASSWORD, None)
    await expect(page.get_by_role("alert")).to_be_visible()
    await staff_login(page, nurse.tenant, nurse.login_id, NEW_PASSWORD, nurse.codes.next())
    await expect(page).to_have_url(re.compile(r"/staff$"))


async def test_ux6_a_password_older_than_the_networks_90_days_is_changed_at_sign_in(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    network = await make_network(stack)
    await trust_identity_keys(stack)
    nurse = network.nurse
    await set_password_policy(stack, nurse, max_age_days=90, age_days=120)
    page = await tablet_page(chromium, gateway)

    await staff_login(page, nurse.tenant, nurse.login_id, PASSWORD, nurse.codes.next())
    await expect(page).to_have_url(re.compile(r"/staff/first-login$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("パスワードの変更が必要です")
    await checked(page)
    # The code typed at sign-in confirms the change; no new authenticator is enrolled.
    assert await page.locator("#totp-secret").count() == 0
    await page.locator("#new_password").fill(NEW_PASSWORD)
    await page.locator("#new_password_again").fill(NEW_PASSWORD)
    await page.locator('form[action$="/staff/first-login"] button[type="submit"]').click()
    await expect(page).to_have_url(re.compile(r"/staff/login\?done=password_renewed$"))
    await expect(page.locator("p.flash[role=status]")).to_contain_text(
        "新しいパスワードでログインしてください"
    )

    await staff_login(page, nurse.tenant, nurse.login_id, NEW_PASSWORD, nurse.codes.next())
    await expect(page).to_have_url(re.compile(r"/staff$"))
    await page.goto("/staff/account")
    # The new password counts from today: the next change is due in 90 days.
    due = datetime.now(UTC) + timedelta(days=90)
    await expect(page.locator("body")).to_contain_text(f"{due.year}")


async def password_only_person(stack: Stack) -> Person:
    """Someone without an authenticator yet, on a network where a password alone may sign in (a demo network:
    the only kind that allows it), so enrolling one visibly changes what sign-in asks for."""
    from identity.models import Facility, Network, User
    from identity.passwords import hash_password

    tenant = f"ui-{uuid4().hex[:8]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(
            Network(slug=tenant, name="デモ ネット", created_as_demo=True, password_only_allowed=True)
        )
        await session.flush()
        facility = Facility(id=uuid4(), tenant=tenant, name="結薬局", kind="pharmacy")
        session.add(facility)
        await session.flush()
        user = User(
            id=uuid4(),
            tenant=tenant,
            facility_id=facility.id,
            login_id="pharmacist",
            display_name="鈴木 薬子",
            password_hash=hash_password(PASSWORD),
            roles=["staff"],
            profession="pharmacist",
        )
        session.add(user)
    return Person(user.id, facility.id, tenant, "pharmacist", "鈴木 薬子", Codes(pyotp.random_base32()))


async def test_ux6_an_authenticator_enrolled_from_the_qr_code_is_asked_for_at_the_next_sign_in(
    stack: Stack, gateway: Gateway, chromium: Browser
) -> None:
    person = await password_only_person(stack)
    await trust_identity_keys(stack)
    page = await tablet_page(chromium, gateway)
    await staff_login(page, person.tenant, person.login_id, PASSWORD, None)
    await expect(page).to_have_url(re.compile(r"/staff$"))

    await page.goto("/staff/account")
    await expect(page.locator("#profile-profession")).to_have_text("薬剤師")
    await expect(page.locator("#totp-state")).to_have_text("認証アプリはまだ登録されていません。")
    await page.get_by_role("link", name="認証アプリを登録・変更する").click()
    await checked(page)
    await page.locator("#current_password").fill(PASSWORD)
    await page.get_by_role("button", name="認証アプリを登録する").click()

    qr = page.get_by_role("img", name="認証アプリに読み取らせるQRコード")
    await expect(qr).to_be_visible()
    await checked(page)
    svg = await page.locator("#totp-qr svg").evaluate("node => node.outerHTML")
    uri = await page.locator("#totp-open-app").get_attribute("href")
    assert uri and uri.startswith("otpauth://totp/")
    assert modules_of(svg) == expected_modules(uri, border=4), "the QR code encodes the otpauth URI"
    # The same key, for typing by hand, behind the 「キーを手入力する」 disclosure.
    secret = pyotp.parse_uri(uri).secret
    await expect(page.locator("#totp-secret")).to_be_hidden()
    await page.get_by_text("キーを手入力する").click()
    await expect(page.locator("#totp-secret")).to_have_text(secret)

    scanned = Codes(secret)
    await page.locator("#totp_code").fill(scanned.next())
    await page.get_by_role("button", name="登録を完了する").click()
    await expect(page.locator("p.flash[role=status]")).to_contain_text("認証アプリを登録しました")
    await expect(page.locator("#totp-state")).to_contain_text("登録済み")

    await page.get_by_role("button", name="ログアウト").click()
    await staff_login(page, person.tenant, person.login_id, PASSWORD, None)
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/staff/login$"))
    await staff_login(page, person.tenant, person.login_id, PASSWORD, scanned.next())
    await expect(page).to_have_url(re.compile(r"/staff$"))
