"""The operators' admin UI under /admin: Japanese first, sign-in with two factors, the review queue (I1)."""

from __future__ import annotations

import re
from uuid import uuid4

import pyotp
from identity.models import Facility, Network, User
from identity.passwords import hash_password

from tests.support.stack import Stack

PASSWORD = "Kaigo-2026!tokyo"


async def make_network(stack: Stack) -> tuple[str, User, User, User]:
    tenant = f"net-{uuid4().hex[:8]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name="管理画面テスト"))
        await session.flush()
        office = Facility(id=uuid4(), tenant=tenant, name="町役場", kind="municipality")
        session.add(office)
        await session.flush()
        people = [
            User(
                id=uuid4(),
                tenant=tenant,
                facility_id=office.id,
                login_id=login_id,
                display_name=login_id,
                password_hash=hash_password(PASSWORD),
                roles=roles,
                totp_secret=pyotp.random_base32(),
                totp_confirmed=True,
            )
            for login_id, roles in (
                ("operator", ["operator"]),
                ("clerk", ["staff"]),
                ("office-admin", ["facility_admin", "staff"]),
            )
        ]
        session.add_all(people)
    return tenant, people[0], people[1], people[2]


async def sign_in(stack: Stack, person: User) -> dict[str, str]:
    # Identity verifies its own tokens through its JWKS like every service (the stack preloads a test key).
    from identity import tokens

    published = (await stack["identity"].client.get("/.well-known/jwks.json")).json()["keys"]
    verifier = stack["identity"].app.state.token_verifier
    verifier.keys.load({"keys": [tokens.public_jwk(stack.signing_key), *published]})
    response = await stack["identity"].client.post(
        "/admin/login",
        data={
            "tenant": person.tenant,
            "login_id": person.login_id,
            "password": PASSWORD,
            "totp_code": pyotp.TOTP(person.totp_secret or "").now(),
        },
    )
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
    return {"Cookie": cookie.split(";", 1)[0]}


class TestAdminUi:
    async def test_i1_operator_reviews_applications_in_the_japanese_admin_ui(self, stack: Stack) -> None:
        tenant, operator, _, _ = await make_network(stack)
        client = stack["identity"].client
        assert (await client.get("/admin")).status_code == 303  # not signed in: to the sign-in form
        login_page = await client.get("/admin/login")
        assert "運用管理ログイン" in login_page.text and 'lang="ja"' in login_page.text
        failed = await client.post(
            "/admin/login", data={"tenant": tenant, "login_id": "operator", "password": PASSWORD}
        )
        assert failed.status_code == 401 and "ログインできませんでした" in failed.text  # no second factor

        cookie = await sign_in(stack, operator)
        applied = await client.post(
            "/facility-applications",
            json={
                "tenant": tenant,
                "name": "ゆい薬局",
                "kind": "pharmacy",
                "address": "東郷町",
                "phone": "0561-00-0000",
                "administrator_name": "薬剤 一郎",
                "administrator_email": "ichiro@example.jp",
                "administrator_login_id": "yui-pharmacy",
                "pledge_accepted": True,
            },
        )
        home = await client.get("/admin", headers=cookie)
        assert home.status_code == 200 and "審査待ちの利用申請: 1 件" in home.text
        queue = await client.get("/admin/applications", headers=cookie)
        assert "ゆい薬局" in queue.text and "承認" in queue.text
        english = await client.get("/admin/applications?lang=en", headers=cookie)
        assert "Applications" in english.text and "Approve" in english.text

        facility_id = applied.json()["id"]
        forged = await client.post(
            f"/admin/applications/{facility_id}/approval",
            headers={**cookie, "Origin": "https://evil.example"},
        )
        assert forged.status_code == 303  # refused: another site's form
        approved = await client.post(
            f"/admin/applications/{facility_id}/approval",
            headers={**cookie, "Origin": "http://identity.test"},
        )
        assert approved.status_code == 200, approved.text
        assert "利用申請を承認しました" in approved.text and "yui-pharmacy" in approved.text
        for page in ("facilities", "users", "suspensions", "incidents", "network"):
            assert (await client.get(f"/admin/{page}", headers=cookie)).status_code == 200, page

    async def test_staff_are_sent_to_the_sign_in_form(self, stack: Stack) -> None:
        _, _, clerk, _ = await make_network(stack)
        cookie = await sign_in(stack, clerk)
        for page in ("", "/applications", "/users", "/network"):
            response = await stack["identity"].client.get(f"/admin{page}", headers=cookie)
            assert response.status_code == 303 and response.headers["location"].endswith("/admin/login")

    async def test_i7_facility_administrator_manages_their_own_users_in_the_admin_ui(
        self, stack: Stack
    ) -> None:
        _, _, clerk, admin = await make_network(stack)
        cookie = await sign_in(stack, admin)
        client = stack["identity"].client
        home = await client.get("/admin", headers=cookie)
        assert home.status_code == 303 and home.headers["location"].endswith("/admin/users")
        users = await client.get("/admin/users", headers=cookie)
        assert users.status_code == 200 and "clerk" in users.text and "パスワード再発行" in users.text
        assert "利用申請" not in users.text  # the network's pages are not theirs
        assert (await client.get("/admin/applications", headers=cookie)).status_code == 303
        facility = await client.get("/admin/facility", headers=cookie)
        assert facility.status_code == 200 and "町役場" in facility.text
        reissued = await client.post(f"/admin/users/{clerk.id}/password-reissue", headers=cookie)
        assert reissued.status_code == 200 and "初期パスワードを再発行しました" in reissued.text


class TestPublicationInTheAdminUi:
    async def test_p1_the_facility_page_leads_to_the_online_change_form(self, stack: Stack) -> None:
        _, _, _, admin = await make_network(stack)
        page = await stack["identity"].client.get("/admin/facility", headers=await sign_in(stack, admin))
        assert page.status_code == 200 and 'href="/forms/facility-change"' in page.text

    async def test_p1_the_operator_withholds_an_entry_and_sets_the_opt_in_rule_in_the_admin_ui(
        self, stack: Stack
    ) -> None:
        tenant, operator, _, _ = await make_network(stack)
        cookie = {**await sign_in(stack, operator), "Origin": "http://identity.test"}
        client = stack["identity"].client

        async def listed() -> list[str]:
            found = (await client.get("/directory", params={"tenant": tenant})).json()["entries"]
            return [e["name"] for e in found]

        assert "町役場" in await listed()
        page = await client.get("/admin/facilities", headers=cookie)
        [facility_id] = re.findall(r"/admin/facilities/([0-9a-f-]{36})/directory/withholding", page.text)
        withheld = await client.post(
            f"/admin/facilities/{facility_id}/directory/withholding",
            data={"reason": "確認中"},
            headers=cookie,
        )
        assert withheld.status_code == 303
        assert "町役場" not in await listed()
        await client.post(f"/admin/facilities/{facility_id}/directory/release", headers=cookie)
        assert "町役場" in await listed()

        # Opt-in only: a facility that never opted in leaves the directory.
        assert 'name="opt_in_only"' in (await client.get("/admin/network", headers=cookie)).text
        await client.post("/admin/network/directory-policy", data={"opt_in_only": "true"}, headers=cookie)
        assert "町役場" not in await listed()


class TestDecisionsAskFirst:
    async def test_ux7_approving_rejecting_and_suspending_go_through_a_confirmation_page(
        self, stack: Stack
    ) -> None:
        tenant, operator, clerk, _ = await make_network(stack)
        cookie = {**await sign_in(stack, operator), "Origin": "http://identity.test"}
        client = stack["identity"].client
        applied = await client.post(
            "/facility-applications",
            json={
                "tenant": tenant,
                "name": "ゆい訪問看護",
                "kind": "nursing_station",
                "address": "東郷町",
                "phone": "0561-00-0001",
                "administrator_name": "看護 花子",
                "administrator_email": "hanako@example.jp",
                "administrator_login_id": "yui-station",
                "pledge_accepted": True,
            },
        )
        facility_id = applied.json()["id"]
        queue = await client.get("/admin/applications", headers=cookie)
        assert "訪問看護ステーション" in queue.text and "nursing_station<" not in queue.text
        assert (
            f'href="/admin/applications/{facility_id}/approval"' in queue.text
        )  # a link to a page, not a post
        asked = await client.get(f"/admin/applications/{facility_id}/approval", headers=cookie)
        assert asked.status_code == 200 and "「ゆい訪問看護」の利用申請を承認しますか？" in asked.text
        rejecting = await client.get(f"/admin/applications/{facility_id}/rejection", headers=cookie)
        assert rejecting.status_code == 200 and 'name="reason"' in rejecting.text
        no_reason = await client.post(
            f"/admin/applications/{facility_id}/rejection", data={"reason": " "}, headers=cookie
        )
        assert no_reason.status_code == 422 and "理由を入力してください" in no_reason.text
        queue = await client.get("/admin/applications", headers=cookie)
        assert "ゆい訪問看護" in queue.text  # still waiting: asking changed nothing

        approved = await client.post(f"/admin/applications/{facility_id}/approval", headers=cookie)
        assert approved.status_code == 200 and approved.headers["cache-control"] == "no-store"
        for shown in (
            'id="initial-password"',
            'id="access-code"',
            'id="access-code-pin"',
            "/staff/certificate",
        ):
            assert shown in approved.text

        asked = await client.get(f"/admin/users/{clerk.id}/suspension", headers=cookie)
        assert asked.status_code == 200 and "「clerk」さんの利用を停止しますか？" in asked.text
        assert (await client.get("/admin/suspensions", headers=cookie)).text.count("<tr>") == 0
        without = await client.post(
            f"/admin/users/{clerk.id}/suspension", data={"reason": ""}, headers=cookie
        )
        assert without.status_code == 422 and "理由を入力してください" in without.text
        suspended = await client.post(
            f"/admin/users/{clerk.id}/suspension", data={"reason": "端末の紛失"}, headers=cookie
        )
        assert suspended.status_code == 303 and "done=suspended" in suspended.headers["location"]
        listed = await client.get("/admin/suspensions", headers=cookie)
        assert "端末の紛失" in listed.text and "clerk（町役場）" in listed.text
