"""A user's sign-in sessions belong to their network: a token's user id counts only with its tenant (ten2).

Found by the route walk of tests/security/test_tenant_isolation.py: a token validly signed for network B that
named a user of network A listed that user's sessions and could end one. Identity never signs such a token, but
each service checks a token's claims as the pair they are, so a mistake or a stolen key in one place does not
open another network."""

from __future__ import annotations

from uuid import uuid4

import pyotp
from identity.models import Facility, Network, User
from identity.passwords import hash_password

from tests.support.security import PASSWORD, Person, sign_in, trust_identity_keys
from tests.support.stack import Stack


async def a_user_and_another_network(stack: Stack) -> tuple[Person, str]:
    tenant, other = f"sst-{uuid4().hex[:8]}", f"sst-{uuid4().hex[:8]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add_all([Network(slug=tenant, name="甲"), Network(slug=other, name="乙")])
        await session.flush()
        clinic = Facility(id=uuid4(), tenant=tenant, name="甲クリニック", kind="clinic")
        session.add(clinic)
        await session.flush()
        user = User(
            id=uuid4(),
            tenant=tenant,
            facility_id=clinic.id,
            login_id="doctor",
            display_name="甲 医師",
            password_hash=hash_password(PASSWORD),
            roles=["staff"],
            totp_secret=pyotp.random_base32(),
            totp_confirmed=True,
        )
        session.add(user)
    await trust_identity_keys(stack)
    return await sign_in(stack, Person(user)), other


class TestSessionsOfAnotherNetwork:
    async def test_ten2_a_token_of_another_network_naming_the_user_sees_none_of_their_sessions(
        self, stack: Stack
    ) -> None:
        doctor, other = await a_user_and_another_network(stack)
        identity = stack["identity"].client
        own = await identity.get("/sessions", headers=doctor.headers)
        assert [s["id"] for s in own.json()] == [str(doctor.session_id)]

        forged = stack.staff(tenant=other, user_id=doctor.id, facility_id=doctor.user.facility_id)
        listed = await identity.get("/sessions", headers=forged.headers)
        assert listed.status_code == 200, listed.text
        assert listed.json() == []

    async def test_ten2_a_token_of_another_network_naming_the_user_cannot_end_their_session(
        self, stack: Stack
    ) -> None:
        doctor, other = await a_user_and_another_network(stack)
        identity = stack["identity"].client
        forged = stack.staff(tenant=other, user_id=doctor.id, facility_id=doctor.user.facility_id)
        ended = await identity.delete(f"/sessions/{doctor.session_id}", headers=forged.headers)
        assert ended.status_code == 404, ended.text
        assert ended.headers["content-type"].startswith("application/problem+json")
        still = await identity.get("/sessions", headers=doctor.headers)
        assert still.status_code == 200
        assert [s["ended_at"] for s in still.json()] == [None]
