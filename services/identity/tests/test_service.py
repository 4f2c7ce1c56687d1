"""Identity's use cases and token keys: login audited in the caller's transaction; Ed25519 signing keys."""

from __future__ import annotations

from uuid import uuid4

import jwt
from identity import tokens
from identity.models import Facility, Network, User
from identity.passwords import hash_password, verify_password
from identity.sessions import service
from sqlalchemy import text
from yui_common import audit
from yui_common.problems import Problem

from tests.support.stack import Stack


async def seed(session, tenant: str) -> User:  # type: ignore[no-untyped-def]
    session.add(Network(slug=tenant, name="n", created_as_demo=True, password_only_allowed=True))
    await session.flush()
    facility = Facility(id=uuid4(), tenant=tenant, name="f", kind="clinic")
    session.add(facility)
    await session.flush()
    user = User(
        id=uuid4(),
        tenant=tenant,
        facility_id=facility.id,
        login_id="doctor",
        display_name="医師",
        password_hash=hash_password("pw-1"),
        roles=["staff"],
    )
    session.add(user)
    await session.flush()
    return user


class TestPasswordLogin:
    async def test_success_returns_a_token_that_verifies_with_the_published_key(self, stack: Stack) -> None:
        tenant = f"net-{uuid4().hex[:8]}"
        async with stack["identity"].sessionmaker() as session, session.begin():
            user = await seed(session, tenant)
            issued = await service.login(
                session,
                settings=stack["identity"].settings,
                tenant=tenant,
                login_id="doctor",
                password="pw-1",
                totp_code=None,
                cert_fingerprint=None,
            )
            assert not isinstance(issued, Problem)
            token = issued.access_token
            keys = {k["kid"]: k for k in (await tokens.jwks(session))["keys"]}
            kid = jwt.get_unverified_header(token)["kid"]
            claims = jwt.decode(
                token, jwt.PyJWK(keys[kid]).key, algorithms=["EdDSA"], audience="yui", issuer="yui-identity"
            )
            assert (claims["sub"], claims["tenant"], claims["facility"]) == (
                str(user.id),
                tenant,
                str(user.facility_id),
            )
            await session.rollback()

    async def test_failure_returns_a_problem_with_the_audit_entry_staged_in_the_callers_transaction(
        self, stack: Stack
    ) -> None:
        tenant = f"net-{uuid4().hex[:8]}"
        async with stack["identity"].sessionmaker() as session, session.begin():
            await seed(session, tenant)
            result = await service.login(
                session,
                settings=stack["identity"].settings,
                tenant=tenant,
                login_id="doctor",
                password="nope",
                totp_code=None,
                cert_fingerprint=None,
            )
            assert isinstance(result, Problem) and result.status == 401
            await audit.write_staged(session)  # staged entries are written at commit; read them now
            entries = (
                await session.execute(
                    text("SELECT actor_id, action FROM audit_log WHERE tenant = :t"), {"t": tenant}
                )
            ).all()
            assert [tuple(e) for e in entries] == [("login:doctor", "login.failed")]
            await session.rollback()


class TestSigningKeys:
    async def test_the_first_key_is_created_once_and_then_reused(self, stack: Stack) -> None:
        async with stack["identity"].sessionmaker() as session, session.begin():
            first = await tokens.current_signing_key(session)
            second = await tokens.current_signing_key(session)
            assert first.kid == second.kid
            await session.rollback()

    def test_public_jwk_never_contains_the_private_key(self) -> None:
        key = tokens.new_signing_key()
        jwk = tokens.public_jwk(key)
        assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}

    def test_passwords_are_argon2id_hashes(self) -> None:
        hashed = hash_password("secret")
        assert hashed.startswith("$argon2id$")
        assert verify_password(hashed, "secret") and not verify_password(hashed, "Secret")
