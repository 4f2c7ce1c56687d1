"""One's own account (issue 10, I4): profile, password change, the periodic-change policy at sign-in, and
enrolling an authenticator while signed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
from identity.models import LoginSession, Network, User
from sqlalchemy import select, update

from services.identity.tests.test_accounts import (
    NEW_PASSWORD,
    PASSWORD,
    Codes,
    assert_problem,
    bearer,
    events,
    forget_used_codes,
    login,
    make_site,
    signed_in,
    trust_identity_keys,
    user_row,
)
from tests.support.stack import Stack


async def age_password(stack: Stack, user: User, days: int) -> None:
    async with stack["identity"].sessionmaker() as session, session.begin():
        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(password_changed_at=datetime.now(UTC) - timedelta(days=days))
        )


async def open_sessions(stack: Stack, user: User) -> set[str]:
    async with stack["identity"].sessionmaker() as session:
        rows = await session.execute(
            select(LoginSession.id).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
        )
        return {str(r) for r in rows.scalars()}


class TestProfile:
    async def test_a_user_reads_their_profile_and_changes_name_and_kana_but_not_profession(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        await trust_identity_keys(stack)
        headers = bearer(await signed_in(stack, site.nurse))
        profile = await stack["identity"].client.get("/me/profile", headers=headers)
        assert profile.status_code == 200, profile.text
        assert profile.json()["facility_name"] == "結クリニック"
        assert profile.json()["profession"] == "other"
        assert profile.json()["totp_enrolled"] is True
        assert profile.json()["password_expires_at"] is None
        changed = await stack["identity"].client.patch(
            "/me/profile", json={"name": "佐藤 花子", "name_kana": "サトウ ハナコ"}, headers=headers
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["name"], changed.json()["name_kana"]) == ("佐藤 花子", "サトウ ハナコ")
        [event] = await events(stack, site.tenant, "identity.person-changed.v1")
        assert (event["name"], event["name_kana"], event["version"]) == ("佐藤 花子", "サトウ ハナコ", 1)
        refused = await stack["identity"].client.patch(
            "/me/profile", json={"profession": "doctor"}, headers=headers
        )
        assert_problem(refused, 422, "validation-error")
        assert (await user_row(stack, site.nurse.id)).profession == "other"


class TestOwnPassword:
    async def test_ux6_a_signed_in_user_changes_their_password_and_their_other_sessions_end(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack, password_history_count=3)
        await trust_identity_keys(stack)
        other_device = await signed_in(stack, site.nurse)
        this_device = await signed_in(stack, site.nurse)
        headers = bearer(this_device)
        client = stack["identity"].client

        wrong = await client.post(
            "/me/password", json={"current_password": "nope", "new_password": NEW_PASSWORD}, headers=headers
        )
        assert_problem(wrong, 401, "login-failed")
        weak = await client.post(
            "/me/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=headers
        )
        assert_problem(weak, 422, "password-rules")
        same = await client.post(
            "/me/password", json={"current_password": PASSWORD, "new_password": PASSWORD}, headers=headers
        )
        assert_problem(same, 422, "password-reused")

        changed = await client.post(
            "/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        )
        assert changed.status_code == 204, changed.text
        user = await user_row(stack, site.nurse.id)
        assert user.password_changed_at is not None and not user.must_change_password
        assert await open_sessions(stack, site.nurse) == {this_device["session_id"]}
        assert other_device["session_id"] not in await open_sessions(stack, site.nurse)
        await forget_used_codes(stack, site.nurse.id)
        assert site.nurse.totp_secret
        code = pyotp.TOTP(site.nurse.totp_secret).now()
        assert_problem(await login(stack, site.nurse, password=PASSWORD, code=code), 401, "login-failed")
        assert (await login(stack, site.nurse, password=NEW_PASSWORD, code=code)).status_code == 200


class TestPeriodicChange:
    async def test_i4_the_operator_sets_the_policy_within_30_to_365_days_or_switches_it_off(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        await trust_identity_keys(stack)
        operator = bearer(await signed_in(stack, site.operator))
        client = stack["identity"].client
        for bad in (10, 400, "ninety"):
            refused = await client.patch("/network", json={"password_max_age_days": bad}, headers=operator)
            assert_problem(refused, 422, "validation-error")
        ninety = await client.patch("/network", json={"password_max_age_days": 90}, headers=operator)
        assert ninety.status_code == 200 and ninety.json()["password_max_age_days"] == 90
        other = await client.patch("/network", json={"lockout_threshold": 6}, headers=operator)
        assert other.json()["password_max_age_days"] == 90  # untouched when not sent
        off = await client.patch("/network", json={"password_max_age_days": None}, headers=operator)
        assert off.status_code == 200 and off.json()["password_max_age_days"] is None
        nurse = bearer(await signed_in(stack, site.nurse))
        refused = await client.patch("/network", json={"password_max_age_days": 90}, headers=nurse)
        assert refused.status_code == 403

    async def test_ux6_an_older_password_leads_to_the_change_at_sign_in_with_the_same_code(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack, password_max_age_days=90)
        await age_password(stack, site.nurse, days=91)
        assert site.nurse.totp_secret
        codes = Codes(site.nurse.totp_secret)
        code = codes.next()

        # The password alone does not learn that it is right.
        assert_problem(await login(stack, site.nurse), 401, "login-failed")
        expired = await login(stack, site.nurse, code=code)
        body = assert_problem(expired, 403, "password-change-required")
        assert body["reason"] == "expired"
        # The code was not spent: the change takes it.
        changed = await stack["identity"].client.post(
            "/auth/password",
            json={
                "tenant": site.tenant,
                "login_id": site.nurse.login_id,
                "current_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "totp_code": code,
            },
        )
        assert changed.status_code == 204, changed.text
        assert (await login(stack, site.nurse, password=NEW_PASSWORD, code=codes.next())).status_code == 200

    async def test_i4_a_recent_password_signs_in_and_the_profile_says_until_when(self, stack: Stack) -> None:
        site = await make_site(stack, password_max_age_days=90)
        await age_password(stack, site.nurse, days=30)
        await trust_identity_keys(stack)
        tokens = await signed_in(stack, site.nurse)
        profile = (await stack["identity"].client.get("/me/profile", headers=bearer(tokens))).json()
        expires = datetime.fromisoformat(profile["password_expires_at"])
        assert timedelta(days=59) < expires - datetime.now(UTC) < timedelta(days=61)


class TestAuthenticator:
    async def test_ux6_a_signed_in_user_enrols_a_new_authenticator_and_sign_in_asks_for_its_codes(
        self, stack: Stack
    ) -> None:
        site = await make_site(stack)
        await trust_identity_keys(stack)
        headers = bearer(await signed_in(stack, site.nurse))
        client = stack["identity"].client
        wrong = await client.post("/me/totp-enrolment", json={"current_password": "nope"}, headers=headers)
        assert_problem(wrong, 401, "login-failed")
        nothing = await client.post(
            "/me/totp-enrolment/confirmation", json={"code": "123456"}, headers=headers
        )
        assert_problem(nothing, 409, "no-enrolment")

        started = await client.post(
            "/me/totp-enrolment", json={"current_password": PASSWORD}, headers=headers
        )
        assert started.status_code == 200, started.text
        uri = urlparse(started.json()["provisioning_uri"])
        assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
        assert parse_qs(uri.query)["secret"] == [started.json()["secret"]]
        new_totp = pyotp.TOTP(started.json()["secret"])
        # Until the new one is confirmed, the old authenticator still signs in.
        assert site.nurse.totp_secret
        old_totp = pyotp.TOTP(site.nurse.totp_secret)
        await forget_used_codes(stack, site.nurse.id)
        assert (await login(stack, site.nurse, code=old_totp.now())).status_code == 200

        bad = "000000" if new_totp.now() != "000000" else "111111"
        mismatch = await client.post("/me/totp-enrolment/confirmation", json={"code": bad}, headers=headers)
        assert_problem(mismatch, 422, "totp-code-wrong")
        confirmed = await client.post(
            "/me/totp-enrolment/confirmation", json={"code": new_totp.now()}, headers=headers
        )
        assert confirmed.status_code == 204, confirmed.text

        await forget_used_codes(stack, site.nurse.id)
        assert_problem(await login(stack, site.nurse, code=old_totp.now()), 401, "login-failed")
        await forget_used_codes(stack, site.nurse.id)
        assert (await login(stack, site.nurse, code=new_totp.now())).status_code == 200

    async def test_a_network_without_totp_refuses_the_enrolment(self, stack: Stack) -> None:
        site = await make_site(stack)
        await trust_identity_keys(stack)
        headers = bearer(await signed_in(stack, site.nurse))
        async with stack["identity"].sessionmaker() as session, session.begin():
            await session.execute(
                update(Network).where(Network.slug == site.tenant).values(totp_allowed=False)
            )
        refused = await stack["identity"].client.post(
            "/me/totp-enrolment", json={"current_password": PASSWORD}, headers=headers
        )
        assert_problem(refused, 409, "totp-not-allowed")
