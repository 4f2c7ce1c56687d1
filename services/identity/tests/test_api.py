"""Identity's HTTP API: the JWKS, the password step of login (audited, one answer for every failure), /me."""

from __future__ import annotations

import base64
from datetime import date
from uuid import UUID, uuid4

import httpx
import pytest
from identity.models import Facility, Network, User
from identity.passwords import hash_password
from sqlalchemy import text

from tests.support.stack import Stack

PASSWORD = "correct horse battery staple"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}" and body["status"] == status and body["title"]
    return body  # type: ignore[no-any-return]


async def seed_user(
    stack: Stack, *, status: str = "active", roles: tuple[str, ...] = ("staff",)
) -> tuple[User, str]:
    """A network, facility and staff user the way `python -m identity seed` writes them."""
    tenant = f"net-{uuid4().hex[:8]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        # Password-only sign-in is a demo network's setting (S1 is proven in test_accounts.py): these tests
        # are about the password step and the answers it gives.
        session.add(
            Network(slug=tenant, name="テスト ネット", created_as_demo=True, password_only_allowed=True)
        )
        await session.flush()
        facility = Facility(id=uuid4(), tenant=tenant, name="テスト クリニック", kind="clinic")
        session.add(facility)
        await session.flush()
        user = User(
            id=uuid4(),
            tenant=tenant,
            facility_id=facility.id,
            login_id="nurse",
            display_name="看護 花子",
            password_hash=hash_password(PASSWORD),
            roles=list(roles),
            status=status,
        )
        session.add(user)
    return user, tenant


async def login(stack: Stack, tenant: str, login_id: str, password: str) -> httpx.Response:
    return await stack["identity"].client.post(
        "/auth/token", json={"tenant": tenant, "login_id": login_id, "password": password}
    )


async def login_audit(stack: Stack, tenant: str) -> list[tuple[str, str]]:
    async with stack["identity"].sessionmaker() as session:
        rows = await session.execute(
            text("SELECT actor_id, action FROM audit_log WHERE tenant = :t ORDER BY seq"), {"t": tenant}
        )
        return [(r.actor_id, r.action) for r in rows]


async def trust_identity_keys(stack: Stack) -> None:
    """Give every service identity's published keys beside the stack's test key (as a JWKS refresh would)."""
    from identity import tokens

    published = (await stack["identity"].client.get("/.well-known/jwks.json")).json()["keys"]
    keys = [tokens.public_jwk(stack.signing_key), *published]
    for service in stack.services.values():
        service.app.state.token_verifier.keys.load({"keys": keys})


class TestJwks:
    async def test_jwks_serves_an_ed25519_okp_public_key(self, stack: Stack) -> None:
        response = await stack["identity"].client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        keys = response.json()["keys"]
        assert keys
        for key in keys:
            assert {k: key[k] for k in ("kty", "crv", "alg", "use")} == {
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "use": "sig",
            }
            assert key["kid"]
            assert len(base64.urlsafe_b64decode(key["x"] + "==")) == 32
            assert "d" not in key  # never the private half

    async def test_the_key_set_is_stable_between_requests(self, stack: Stack) -> None:
        first = (await stack["identity"].client.get("/.well-known/jwks.json")).json()
        second = (await stack["identity"].client.get("/.well-known/jwks.json")).json()
        assert first == second


class TestPasswordLogin:
    async def test_issued_token_is_accepted_by_the_other_services(self, stack: Stack) -> None:
        user, tenant = await seed_user(stack)
        response = await login(stack, tenant, "nurse", PASSWORD)
        assert response.status_code == 200, response.text
        issued = response.json()
        assert issued["token_type"] == "Bearer" and issued["expires_in"] == 900
        headers = {"Authorization": f"Bearer {issued['access_token']}"}
        await trust_identity_keys(stack)

        me = await stack["identity"].client.get("/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json() == {
            "user_id": str(user.id),
            "tenant": tenant,
            "facility_id": str(user.facility_id),
            "roles": ["staff"],
            "name": "看護 花子",
        }
        assert (await stack["notify"].client.get("/notifications", headers=headers)).status_code == 200
        created = await stack["consent"].client.post(
            "/subjects",
            json={
                "name": "結",
                "name_kana": "ユイ",
                "municipality_code": "232360",
                "birth_date": str(date(1940, 1, 1)),
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        subject_id = UUID(created.json()["id"])
        async with stack["consent"].sessionmaker() as session:
            actor = (
                await session.execute(
                    text("SELECT actor_id, facility_id, tenant FROM audit_log WHERE subject_id = :s"),
                    {"s": str(subject_id)},
                )
            ).one()
        assert tuple(actor) == (str(user.id), str(user.facility_id), tenant)
        assert await login_audit(stack, tenant) == [(str(user.id), "login.succeeded")]

    async def test_wrong_password_is_a_401_problem_and_an_audit_entry(self, stack: Stack) -> None:
        _, tenant = await seed_user(stack)
        response = await login(stack, tenant, "nurse", "wrong password")
        body = assert_problem(response, 401, "login-failed")
        assert "access_token" not in body
        assert await login_audit(stack, tenant) == [("login:nurse", "login.failed")]

    @pytest.mark.parametrize("case", ["unknown login", "suspended user"])
    async def test_every_failed_login_gets_the_same_response(self, stack: Stack, case: str) -> None:
        """Nobody learns from the answer whether a login id exists or is suspended."""
        _, tenant = await seed_user(stack, status="suspended" if case == "suspended user" else "active")
        wrong_password = await login(stack, tenant, "nurse", "wrong password")
        login_id, password = ("nobody", "wrong password") if case == "unknown login" else ("nurse", PASSWORD)
        other = await login(stack, tenant, login_id, password)
        assert other.status_code == wrong_password.status_code == 401
        assert other.json() == wrong_password.json()
        assert other.headers["content-type"] == wrong_password.headers["content-type"]
        assert other.headers["www-authenticate"] == wrong_password.headers["www-authenticate"]
        assert len(await login_audit(stack, tenant)) == 2  # both attempts are on record

    async def test_a_login_id_names_a_different_person_in_each_network(self, stack: Stack) -> None:
        first, first_tenant = await seed_user(stack)
        second, second_tenant = await seed_user(stack)
        await trust_identity_keys(stack)
        for user, tenant in ((first, first_tenant), (second, second_tenant)):
            token = (await login(stack, tenant, "nurse", PASSWORD)).json()["access_token"]
            me = await stack["identity"].client.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert (me.json()["user_id"], me.json()["tenant"]) == (str(user.id), tenant)
        assert_problem(await login(stack, f"{first_tenant}-gone", "nurse", PASSWORD), 401, "login-failed")


class TestMe:
    async def test_me_describes_the_token_holder(self, stack: Stack) -> None:
        staff = stack.staff(roles=("staff", "facility_admin"))
        response = await stack["identity"].client.get("/me", headers=staff.headers)
        assert response.status_code == 200
        assert response.json()["roles"] == ["facility_admin", "staff"]
        assert response.json()["user_id"] == str(staff.user_id)

    async def test_me_without_a_token_is_401(self, stack: Stack) -> None:
        assert_problem(await stack["identity"].client.get("/me"), 401, "unauthenticated")
