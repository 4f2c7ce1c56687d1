"""ten1: the contractor creates a network from the command line and from the console (/admin/platform); its
first operator signs in, is made to choose a password and enrol a second factor, and approves the first
facility's application; the network's municipalities decide C1's residence check."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import httpx
import pyotp
from identity.models import Network, PlatformAccount, User
from identity.platform import service as platform
from sqlalchemy import select, text, update

from tests.support.security import trust_identity_keys
from tests.support.stack import Stack, eventually

REPO = Path(__file__).resolve().parents[2]
NEW_PASSWORD = "Toride-Zaitaku-2027!"


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "identity", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )


async def fresh_totp_step(stack: Stack, tenant: str, login_id: str) -> None:
    """Each code works once per 30-second step: a second sign-in within the step needs a fresh slate."""
    async with stack["identity"].sessionmaker() as session, session.begin():
        await session.execute(
            update(User).where(User.tenant == tenant, User.login_id == login_id).values(totp_last_step=None)
        )


async def first_sign_in(stack: Stack, tenant: str, login_id: str, initial_password: str) -> dict[str, str]:
    """As the operator's first sign-in goes: refused until a password is chosen and a factor enrolled."""
    identity = stack["identity"].client
    refused = await identity.post(
        "/auth/token", json={"tenant": tenant, "login_id": login_id, "password": initial_password}
    )
    assert refused.status_code == 403 and refused.json()["type"] == "urn:yui:problem:password-change-required"
    # The admin sign-in form sends them to change it and enrol a factor first.
    form = await identity.post(
        "/admin/login", data={"tenant": tenant, "login_id": login_id, "password": initial_password}
    )
    assert form.status_code == 403 and "パスワードの変更と二要素認証の登録へ" in form.text
    # Choosing a password without enrolling a factor is refused too.
    no_factor = await identity.post(
        "/auth/password",
        json={
            "tenant": tenant,
            "login_id": login_id,
            "current_password": initial_password,
            "new_password": NEW_PASSWORD,
        },
    )
    assert no_factor.status_code == 409, no_factor.text
    enrolment = await identity.post(
        "/auth/totp-enrolment", json={"tenant": tenant, "login_id": login_id, "password": initial_password}
    )
    assert enrolment.status_code == 200, enrolment.text
    totp = pyotp.TOTP(enrolment.json()["secret"])
    changed = await identity.post(
        "/auth/password",
        json={
            "tenant": tenant,
            "login_id": login_id,
            "current_password": initial_password,
            "new_password": NEW_PASSWORD,
            "totp_code": totp.now(),
        },
    )
    assert changed.status_code == 204, changed.text
    # The password alone no longer signs in: the enrolled factor is asked for.
    password_only = await identity.post(
        "/auth/token", json={"tenant": tenant, "login_id": login_id, "password": NEW_PASSWORD}
    )
    assert password_only.status_code == 401, password_only.text
    await fresh_totp_step(stack, tenant, login_id)
    signed_in = await identity.post(
        "/auth/token",
        json={"tenant": tenant, "login_id": login_id, "password": NEW_PASSWORD, "totp_code": totp.now()},
    )
    assert signed_in.status_code == 200, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['access_token']}"}


async def approves_the_first_facility(stack: Stack, tenant: str, operator: dict[str, str]) -> None:
    identity = stack["identity"].client
    applied = await identity.post(
        "/facility-applications",
        json={
            "tenant": tenant,
            "name": "取手 みなみ訪問看護ステーション",
            "kind": "nursing_station",
            "address": "茨城県取手市寺田 1-1",
            "phone": "0297-00-0000",
            "administrator_name": "寺田 看子",
            "administrator_email": "admin@example.jp",
            "administrator_login_id": "minami-admin",
            "pledge_accepted": True,
        },
    )
    assert applied.status_code == 202, applied.text
    queue = await identity.get("/facility-applications", headers=operator)
    assert queue.status_code == 200 and [f["name"] for f in queue.json()] == [
        "取手 みなみ訪問看護ステーション"
    ]
    approved = await identity.post(
        f"/facility-applications/{applied.json()['id']}/approval", headers=operator
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["administrator_login_id"] == "minami-admin"


async def residence_decided_by_the_network(stack: Stack, tenant: str, inside: str, outside: str) -> None:
    """C1: a resident of the network's municipalities is registered; one of another municipality is not."""

    async def consent_knows() -> bool:
        async with stack["consent"].sessionmaker() as session:
            codes = (
                await session.execute(
                    text("SELECT municipality_code FROM network_municipalities WHERE tenant = :t"),
                    {"t": tenant},
                )
            ).scalars()
            return inside in set(codes)

    await eventually(consent_knows, timeout=60, what="consent to learn the network's municipalities")
    doctor = stack.staff(tenant=tenant, roles=("staff", "facility_admin"))
    consent = stack["consent"].client
    outsider = await consent.post(
        "/subjects",
        json={"name": "外 太郎", "name_kana": "ソト タロウ", "municipality_code": outside},
        headers=doctor.headers,
    )
    assert outsider.status_code == 422 and outsider.json()["type"] == "urn:yui:problem:outside-network", (
        outsider.text
    )
    resident = await consent.post(
        "/subjects",
        json={"name": "内 花子", "name_kana": "ウチ ハナコ", "municipality_code": inside},
        headers=doctor.headers,
    )
    assert resident.status_code == 201, resident.text


async def first_terms_named(stack: Stack, tenant: str, name: str) -> None:
    async def terms() -> list[dict[str, str]]:
        response = await stack["portal"].client.get(f"/api/terms?tenant={tenant}")
        return response.json() if response.status_code == 200 else []

    published = await eventually(terms, timeout=60, what="the portal's first terms version")
    assert published[0]["version"] == "1.0" and name in published[0]["title"]


class TestProvisioningFromTheCommandLine:
    async def test_ten1_the_cli_creates_a_network_whose_operator_takes_it_over(self, stack: Stack) -> None:
        await trust_identity_keys(stack)
        slug = f"ten1-cli-{uuid4().hex[:6]}"
        created = await cli(
            "network", "--json", "create", "--slug", slug, "--name", "取手市 在宅ネット",
            "--municipality", "082171", "--municipality", "082244",
            "--operator-office", "取手市 高齢福祉課", "--operator-login-id", "toride-op",
            "--operator-name", "取手 一郎", "--retention-years", "7", "--notice-months", "6",
            "--attachment-mb", "50", "--withdrawal-mode", "delete",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        provisioned = json.loads(created.stdout)
        assert [m["label"] for m in provisioned["network"]["municipalities"]] == [
            "茨城県取手市",
            "茨城県守谷市",
        ]
        listed = await cli("network", "list")
        assert (
            listed.returncode == 0
            and "取手市 在宅ネット" in listed.stdout
            and "茨城県守谷市" in listed.stdout
        )
        shown = await cli("network", "show", slug)
        assert shown.returncode == 0 and "保存年限: 7 年" in shown.stdout

        operator = await first_sign_in(stack, slug, "toride-op", provisioned["operator_initial_password"])
        await approves_the_first_facility(stack, slug, operator)
        await residence_decided_by_the_network(stack, slug, inside="082244", outside="232360")
        await first_terms_named(stack, slug, "取手市 在宅ネット")

        # The rules reached the services that apply them.
        async with stack["timeline"].sessionmaker() as session:
            state = (
                await session.execute(text("SELECT state FROM network_states WHERE tenant = :t"), {"t": slug})
            ).scalar_one()
        state = json.loads(state) if isinstance(state, str) else state
        assert state["max_attachment_bytes"] == 50 * 1024 * 1024 and state["retention_years"] == 7
        async with stack["consent"].sessionmaker() as session:
            mode = (
                await session.execute(
                    text("SELECT withdrawal_mode FROM networks WHERE tenant = :t"), {"t": slug}
                )
            ).scalar_one()
        assert mode == "delete"

        suspended = await cli("network", "suspend", slug, "--reason", "テスト")
        assert suspended.returncode == 0 and "停止中" in suspended.stdout, suspended.stderr
        resumed = await cli("network", "resume", slug)
        assert resumed.returncode == 0 and "運用中" in resumed.stdout, resumed.stderr
        again = await cli("network", "resume", slug)
        assert again.returncode == 1 and "network-not-suspended" in again.stderr


def cookie_of(response: httpx.Response) -> str:
    found = re.search(r"yui_platform=([^;]+)", response.headers.get("set-cookie", ""))
    assert found, response.headers
    return found.group(1)


class TestProvisioningFromTheConsole:
    async def test_ten1_the_console_creates_a_network_after_the_contractors_first_sign_in(
        self, stack: Stack
    ) -> None:
        await trust_identity_keys(stack)
        identity = stack["identity"].client
        login_id = f"contractor-{uuid4().hex[:6]}"
        made = await cli("contractor", "--json", "create", "--login-id", login_id, "--name", "結 契約事業者")
        assert made.returncode == 0, made.stderr
        initial = json.loads(made.stdout)["initial_password"]

        page = await identity.get("/admin/platform")
        assert page.status_code == 200 and "契約事業者のサインイン" in page.text
        # The initial password opens the first sign-in: choose a password, enrol the authenticator.
        first = await identity.post("/admin/platform/login", data={"login_id": login_id, "password": initial})
        assert first.status_code == 200 and "初回サインイン" in first.text
        secret = re.search(r'name="secret" value="([A-Z2-7]+)"', first.text).group(1)  # type: ignore[union-attr]
        finished = await identity.post(
            "/admin/platform/first-sign-in",
            data={
                "login_id": login_id,
                "secret": secret,
                "current_password": initial,
                "new_password": NEW_PASSWORD,
                "new_password_again": NEW_PASSWORD,
                "totp_code": pyotp.TOTP(secret).now(),
            },
        )
        assert finished.status_code == 303, finished.text
        contractor = {"Cookie": f"yui_platform={cookie_of(finished)}"}
        # The platform token is no network's: no service accepts it as a staff token.
        token = {"Authorization": f"Bearer {cookie_of(finished)}"}
        assert (await identity.get("/me", headers=token)).status_code == 401
        assert (await stack["consent"].client.get("/subjects", headers=token)).status_code == 401

        # Later sign-ins ask for the password and the code.
        async with stack["identity"].sessionmaker() as session, session.begin():
            await session.execute(
                update(PlatformAccount)
                .where(PlatformAccount.login_id == login_id)
                .values(totp_last_step=None)
            )
        wrong = await identity.post(
            "/admin/platform/login",
            data={"login_id": login_id, "password": NEW_PASSWORD, "totp_code": "000000"},
        )
        assert wrong.status_code == 401 and "違います" in wrong.text

        slug = f"ten1-web-{uuid4().hex[:6]}"
        form = {
            "slug": slug,
            "name": "守谷市 在宅医療介護連携ネット",
            "municipality_codes": "082244、082171",
            "operator_office": "守谷市 介護福祉課",
            "support_hours": "平日 8:30-17:15",
            "retention_years": "5",
            "discontinuation_notice_months": "3",
            "two_factor_policy": "totp_or_certificate",
            "directory_rule": "opt_in",
            "max_attachment_mb": "100",
            "withdrawal_mode": "stop",
            "operator_login_id": "moriya-op",
            "operator_name": "守谷 二郎",
            "operator_name_kana": "モリヤ ジロウ",
        }
        bad_digit = await identity.post(
            "/admin/platform/networks", data={**form, "municipality_codes": "082245"}, headers=contractor
        )
        assert bad_digit.status_code == 422 and "検査数字" in bad_digit.text
        created = await identity.post("/admin/platform/networks", data=form, headers=contractor)
        assert created.status_code == 201, created.text
        assert "茨城県守谷市" in created.text and "茨城県取手市" in created.text
        initial_operator = re.search(r'<code class="secret">([^<]+)</code>', created.text).group(1)  # type: ignore[union-attr]
        listed = await identity.get("/admin/platform", headers=contractor)
        assert "守谷市 在宅医療介護連携ネット" in listed.text
        assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", listed.text)  # no UUID on the page

        # Suspending asks for a confirmation first.
        confirm = await identity.post(
            f"/admin/platform/networks/{slug}/suspension/confirmation",
            data={"reason": "確認"},
            headers=contractor,
        )
        assert confirm.status_code == 200 and "停止しますか" in confirm.text
        async with stack["identity"].sessionmaker() as session:
            assert (await session.get(Network, slug)).status == "active"  # type: ignore[union-attr]

        async with stack["identity"].sessionmaker() as session:
            network = await session.get(Network, slug)
            assert network is not None and network.directory_opt_in_only and network.created_as_demo is False
            operator_row = (
                await session.execute(select(User).where(User.tenant == slug, User.login_id == "moriya-op"))
            ).scalar_one()
            assert operator_row.must_change_password and operator_row.roles == ["operator"]

        operator = await first_sign_in(stack, slug, "moriya-op", initial_operator)
        await approves_the_first_facility(stack, slug, operator)
        await residence_decided_by_the_network(stack, slug, inside="082171", outside="011002")
        await first_terms_named(stack, slug, "守谷市 在宅医療介護連携ネット")
        assert platform.PLATFORM_SCOPE not in (await identity.get("/admin/platform", headers=contractor)).text
