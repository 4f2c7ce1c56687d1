"""sec2 for issue 14's findings 2 and 3: failed sign-ins make a login ID wait (a backoff that ends by itself, the
same for unknown IDs, its user told) and one address cannot spray many IDs; only a network created as a demo may
let a password sign in alone, and never past a confirmed TOTP."""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import uuid4

import httpx
import pyotp
import pytest
from identity.models import Facility, Network, User
from identity.passwords import hash_password
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.support.stack import FROM_GATEWAY, Stack

PASSWORD = "Kaigo-2026!tokyo"


@dataclass
class Network1:
    tenant: str
    nurse: User
    operator: User
    plain: User  # no TOTP: on a demo network a password alone signs them in


async def make_network(stack: Stack, **settings: object) -> Network1:
    tenant = f"sec2-{uuid4().hex[:8]}"
    password_hash = hash_password(PASSWORD)
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name="ネット", **settings))
        await session.flush()
        facility = Facility(id=uuid4(), tenant=tenant, name="結クリニック", kind="clinic")
        session.add(facility)
        await session.flush()

        def person(login_id: str, roles: list[str], *, totp: bool = True) -> User:
            return User(
                id=uuid4(),
                tenant=tenant,
                facility_id=facility.id,
                login_id=login_id,
                display_name=login_id,
                password_hash=password_hash,
                roles=roles,
                totp_secret=pyotp.random_base32() if totp else None,
                totp_confirmed=totp,
            )

        people = [
            person("nurse", ["staff"]),
            person("operator", ["operator"]),
            person("plain", ["staff"], totp=False),
        ]
        session.add_all(people)
    return Network1(tenant, *people)


def code_of(user: User, steps_ahead: int = 0) -> str:
    assert user.totp_secret
    return pyotp.TOTP(user.totp_secret).at(int(time.time()) + 30 * steps_ahead)


def through_gateway(address: str) -> dict[str, str]:
    """What the gateway adds: its secret, and X-Forwarded-For replaced by the address it saw."""
    return {**FROM_GATEWAY, "X-Forwarded-For": address}


def an_address() -> str:
    """An IPv6 address in a /64 of its own (the limit counts a /64 as one address): documentation range."""
    return f"2001:db8:{uuid4().hex[:4]}:{uuid4().hex[:4]}::1"


async def sign_in(
    stack: Stack,
    tenant: str,
    login_id: str,
    *,
    password: str = PASSWORD,
    code: str | None = None,
    address: str | None = None,
) -> httpx.Response:
    body = {"tenant": tenant, "login_id": login_id, "password": password}
    if code is not None:
        body["totp_code"] = code
    headers = through_gateway(address) if address else {}
    return await stack["identity"].client.post("/auth/token", json=body, headers=headers)


def refused(response: httpx.Response) -> dict[str, object]:
    """The one answer to a refused sign-in, whatever the reason."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["type"] == "urn:yui:problem:login-failed"
    return {k: v for k, v in body.items() if k != "instance"}


async def end_the_wait(stack: Stack, tenant: str, login_id: str) -> None:
    """The clock moves past the backoff (tests do not sleep)."""
    async with stack["identity"].sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "UPDATE sign_in_backoffs SET blocked_until = now() - interval '1 second' "
                "WHERE tenant = :t AND login_id = :l"
            ),
            {"t": tenant, "l": login_id},
        )


# ---------------------------------------------------------------- finding 2: a timed backoff, not a lock


class TestBackoff:
    async def test_sec2_failed_sign_ins_make_the_login_id_wait_and_the_wait_ends_by_itself(
        self, stack: Stack
    ) -> None:
        net = await make_network(stack, lockout_threshold=3)
        wrong = [await sign_in(stack, net.tenant, "nurse", password="wrong-password") for _ in range(3)]
        assert [r.headers.get("retry-after") for r in wrong] == [None, None, "2"]
        one_answer = refused(wrong[0])
        assert refused(wrong[2]) == one_answer

        # During the wait the right password without the second factor is refused, with the same answer.
        waiting = await sign_in(stack, net.tenant, "nurse")
        assert refused(waiting) == one_answer and waiting.headers["retry-after"] in {"1", "2"}

        await end_the_wait(stack, net.tenant, "nurse")
        signed_in = await sign_in(stack, net.tenant, "nurse", code=code_of(net.nurse, 1))
        assert signed_in.status_code == 200, signed_in.text
        # A success starts the count again: one wrong password does not make the ID wait.
        assert (await sign_in(stack, net.tenant, "nurse", password="wrong")).headers.get(
            "retry-after"
        ) is None

    async def test_sec2_the_wait_doubles_with_each_failure_up_to_its_cap(self, stack: Stack) -> None:
        net = await make_network(stack, lockout_threshold=2)
        waits = []
        for _ in range(4):
            response = await sign_in(stack, net.tenant, "nurse", password="wrong-password")
            waits.append(response.headers.get("retry-after"))
            await end_the_wait(stack, net.tenant, "nurse")
        assert waits == [None, "2", "4", "8"]
        async with stack["identity"].sessionmaker() as session, session.begin():
            await session.execute(
                text("UPDATE sign_in_backoffs SET consecutive_failures = 60 WHERE tenant = :t"),
                {"t": net.tenant},
            )
        capped = await sign_in(stack, net.tenant, "nurse", password="wrong-password")
        assert capped.headers["retry-after"] == str(
            stack["identity"].app.state.settings.sign_in_backoff_cap_s
        )
        assert int(capped.headers["retry-after"]) <= 15 * 60

    async def test_sec2_an_unknown_login_id_is_answered_exactly_like_a_known_one(self, stack: Stack) -> None:
        net = await make_network(stack, lockout_threshold=3)
        answers = {}
        for login_id in ("nurse", "no-such-person"):
            responses = [await sign_in(stack, net.tenant, login_id, password="wrong") for _ in range(4)]
            answers[login_id] = [
                (r.status_code, refused(r), r.headers.get("retry-after")) for r in responses[:3]
            ]
            waiting = responses[3]  # during the wait: how long is left depends on the clock
            answers[login_id].append(
                (waiting.status_code, refused(waiting), "retry-after" in waiting.headers)
            )
        assert answers["nurse"] == answers["no-such-person"]
        assert answers["nurse"][2][2] == "2" and answers["nurse"][3][2] is True

    async def test_sec2_an_administrator_ends_the_wait_early_and_the_user_is_told_once(
        self, stack: Stack
    ) -> None:
        net = await make_network(stack, lockout_threshold=2)
        for _ in range(4):  # the series goes on during the wait: still one notice
            refused(await sign_in(stack, net.tenant, "nurse", password="wrong-password"))
        operator = stack.staff(
            tenant=net.tenant,
            facility_id=net.operator.facility_id,
            roles=("operator",),
            user_id=net.operator.id,
        )
        listed = await stack["identity"].client.get("/users", headers=operator.headers)
        assert {u["login_id"]: u["locked"] for u in listed.json()}["nurse"] is True
        unlocked = await stack["identity"].client.post(
            f"/users/{net.nurse.id}/unlock", headers=operator.headers
        )
        assert unlocked.status_code == 200 and unlocked.json()["locked"] is False
        assert (await sign_in(stack, net.tenant, "nurse", code=code_of(net.nurse))).status_code == 200

        async with stack["identity"].sessionmaker() as session:
            notices = (
                await session.execute(
                    text(
                        "SELECT envelope->'data' AS data FROM outbox "
                        "WHERE event_type = 'identity.sign-in-backoff-started.v1' AND envelope->>'tenant' = :t"
                    ),
                    {"t": net.tenant},
                )
            ).all()
        assert [(n.data["user_id"], n.data["consecutive_failures"]) for n in notices] == [
            (str(net.nurse.id), 2)
        ]

    async def test_sec2_an_attackers_guesses_do_not_lock_out_the_user_who_brings_their_second_factor(
        self, stack: Stack
    ) -> None:
        net = await make_network(stack, lockout_threshold=3)
        attacker, victim = an_address(), an_address()
        for _ in range(3):
            guessed = await sign_in(
                stack, net.tenant, "operator", password="wrong-password", address=attacker
            )
        assert guessed.headers["retry-after"] == "2"
        # The attacker is delayed: during the wait even the right password, without the code, is refused.
        delayed = await sign_in(stack, net.tenant, "operator", address=attacker)
        assert refused(delayed) == refused(guessed) and "retry-after" in delayed.headers
        # A wrong or missing code does not pass the wait either.
        wrong_code = "000000" if code_of(net.operator) != "000000" else "111111"
        refused(await sign_in(stack, net.tenant, "operator", code=wrong_code, address=victim))
        # The operator, with their code, signs in during the attacker's wait.
        signed_in = await sign_in(stack, net.tenant, "operator", code=code_of(net.operator), address=victim)
        assert signed_in.status_code == 200, signed_in.text
        # A code passes the wait, not the password: with a wrong password it is refused and counted.
        for _ in range(3):
            guessed = await sign_in(
                stack, net.tenant, "operator", password="wrong-password", address=attacker
            )
        assert guessed.headers["retry-after"] == "2"
        stolen_code = await sign_in(
            stack, net.tenant, "operator", password="wrong", code=code_of(net.operator, 1), address=attacker
        )
        assert refused(stolen_code) == refused(guessed) and stolen_code.headers["retry-after"] == "4"


class TestAddressLimit:
    async def test_sec2_one_address_cannot_spray_many_login_ids(self, stack: Stack) -> None:
        net = await make_network(stack)
        limit = getattr(stack["identity"].app.state.settings, "sign_in_address_failure_limit", 30)
        attacker, colleague = an_address(), an_address()
        for n in range(limit):
            refused(await sign_in(stack, net.tenant, f"guess-{n}", password="password1", address=attacker))
        # The address has used up its failures: even a right password from it is refused, until the window ends.
        from_attacker = await sign_in(stack, net.tenant, "nurse", code=code_of(net.nurse), address=attacker)
        refused(from_attacker)
        assert int(from_attacker.headers["retry-after"]) >= 1
        # Nobody else is shut out: the same person from another address signs in.
        elsewhere = await sign_in(stack, net.tenant, "nurse", code=code_of(net.nurse, 1), address=colleague)
        assert elsewhere.status_code == 200, elsewhere.text

    async def test_sec2_the_addresses_of_one_ipv6_64_count_as_one(self, stack: Stack) -> None:
        net = await make_network(stack)
        limit = getattr(stack["identity"].app.state.settings, "sign_in_address_failure_limit", 30)
        prefix = an_address().removesuffix("::1")
        for n in range(limit):  # a new address of the same /64 for every guess
            address = f"{prefix}:{n:x}:{uuid4().hex[:4]}:0:1"
            refused(await sign_in(stack, net.tenant, f"guess-{n}", password="password1", address=address))
        from_the_same_64 = await sign_in(
            stack, net.tenant, "nurse", code=code_of(net.nurse), address=f"{prefix}:ffff::2"
        )
        refused(from_the_same_64)
        assert int(from_the_same_64.headers["retry-after"]) >= 1
        # An IPv4 address is counted by itself.
        assert (
            await sign_in(stack, net.tenant, "nurse", code=code_of(net.nurse, 1), address="192.0.2.7")
        ).status_code == 200

    async def test_an_address_a_direct_caller_claims_neither_counts_nor_blocks(self, stack: Stack) -> None:
        net = await make_network(stack)
        limit = getattr(stack["identity"].app.state.settings, "sign_in_address_failure_limit", 30)
        address = an_address()
        for n in range(limit):
            refused(await sign_in(stack, net.tenant, f"guess-{n}", password="password1", address=address))
        # Without the gateway's secret the header is anyone's claim: it neither counts nor blocks.
        claimed = await stack["identity"].client.post(
            "/auth/token",
            json={
                "tenant": net.tenant,
                "login_id": "nurse",
                "password": PASSWORD,
                "totp_code": code_of(net.nurse),
            },
            headers={"X-Forwarded-For": address},
        )
        assert claimed.status_code == 200, claimed.text


# ---------------------------------------------------------------- finding 3: the second factor stays on


class TestPasswordOnly:
    async def test_sec2_an_operator_cannot_switch_off_the_second_factor_of_a_real_network(
        self, stack: Stack
    ) -> None:
        net = await make_network(stack)
        operator = stack.staff(
            tenant=net.tenant,
            facility_id=net.operator.facility_id,
            roles=("operator",),
            user_id=net.operator.id,
        )
        response = await stack["identity"].client.patch(
            "/network", json={"password_only_allowed": True}, headers=operator.headers
        )
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == "urn:yui:problem:password-only-not-allowed"
        assert (await stack["identity"].client.get("/network", headers=operator.headers)).json()[
            "password_only_allowed"
        ] is False
        refused(await sign_in(stack, net.tenant, "plain"))
        async with stack["identity"].sessionmaker() as session:
            audited = (
                await session.execute(
                    text(
                        "SELECT actor_id FROM audit_log WHERE tenant = :t AND action = 'network.settings-refused'"
                    ),
                    {"t": net.tenant},
                )
            ).all()
        assert [a.actor_id for a in audited] == [str(net.operator.id)]
        # The flag is the demo seed's: the API cannot set it.
        made_demo = await stack["identity"].client.patch(
            "/network", json={"created_as_demo": True}, headers=operator.headers
        )
        assert made_demo.status_code == 422

    async def test_sec2_the_database_keeps_password_only_to_demo_networks(self, stack: Stack) -> None:
        with pytest.raises(IntegrityError):
            async with stack["identity"].sessionmaker() as session, session.begin():
                session.add(Network(slug=f"sec2-{uuid4().hex[:8]}", name="n", password_only_allowed=True))

    async def test_sec2_a_confirmed_totp_must_be_given_even_on_a_demo_network(self, stack: Stack) -> None:
        net = await make_network(stack, created_as_demo=True, password_only_allowed=True)
        refused(await sign_in(stack, net.tenant, "nurse"))  # missing
        wrong_code = "000000" if code_of(net.nurse) != "000000" else "111111"
        refused(await sign_in(stack, net.tenant, "nurse", code=wrong_code))
        code = code_of(net.nurse)
        assert (await sign_in(stack, net.tenant, "nurse", code=code)).status_code == 200
        refused(await sign_in(stack, net.tenant, "nurse", code=code))  # replayed
        # Someone who never enrolled a TOTP signs in with the password alone: that is what a demo is for.
        alone = await sign_in(stack, net.tenant, "plain")
        assert alone.status_code == 200, alone.text
