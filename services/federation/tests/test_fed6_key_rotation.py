"""fed6: a key rotation with 100 messages in flight. They were signed with the old key and are delivered after the
new key became active: all are accepted (the old key stays published as `retiring` for the retry window). After
the overlap the old key is no longer published, and a message signed with it is refused."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from federation.keys import service as keys
from federation.messages import envelope
from federation.models import FederationKey

from services.federation.tests.federation_support import (
    accepted_agreement,
    active_key,
    assert_problem,
    craft,
    network,
    put,
    received,
    settings_of,
    wait_audit_heads,
)
from tests.support.stack import Stack

IN_FLIGHT = 100


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("the peer is unreachable", request=request)


async def published(stack: Stack) -> dict[str, str]:
    document = (await stack["federation"].client.get("/.well-known/yui-federation")).json()
    return {jwk["kid"]: jwk["yui_state"] for jwk in document["keys"]}


class TestKeyRotation:
    async def test_fed6_messages_in_flight_during_a_rotation_are_all_accepted_and_the_retired_key_is_refused_after(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        home, peer = network(stack, "fed6-home"), network(stack, "fed6-peer")
        agreement_id = await accepted_agreement(stack, home, peer)
        contractor = stack.staff(tenant=home.tenant, roles=("contractor",))
        client = stack["federation"].client
        old = await active_key(stack)

        # The peer cannot be reached while 100 messages are signed and staged.
        delivery = stack["federation"].worker.peer_clients  # type: ignore[union-attr]
        reachable = delivery.transport
        delivery.transport = httpx.MockTransport(unreachable)
        try:
            for _ in range(IN_FLIGHT):
                sent = await client.post(
                    f"/agreements/{agreement_id}/audit-heads", headers=home.operator.headers
                )
                assert sent.status_code == 200, sent.text
            # The new key is published and signs from now on; the old one is retiring, still published.
            rotated = await client.post(
                "/keys/rotation", json={"publish_ahead_s": 0}, headers=contractor.headers
            )
            assert rotated.status_code == 201, rotated.text
            new_kid = rotated.json()["kid"]
            assert rotated.json()["state"] == "active" and new_kid != old.kid
            states = await published(stack)
            assert states[old.kid] == "retiring" and states[new_kid] == "active"
            assert [kid for kid, state in states.items() if state == "active"] == [new_kid]
        finally:
            delivery.transport = reachable

        await wait_audit_heads(stack, peer, IN_FLIGHT, timeout=90)
        applied = [m for m in await received(stack, peer) if m.type == envelope.AUDIT_HEAD]
        assert len(applied) == IN_FLIGHT and {m.status for m in applied} == {"applied"}
        assert {envelope.signature_header(m.signature)["kid"] for m in applied} == {old.kid}
        assert [m.sequence for m in applied] == sorted(m.sequence for m in applied)

        # After the overlap (the retry window, here shortened) the old key leaves the JWKS; the peer's cached copy
        # of the keys has aged out too (peer_keys_cache_s, here shortened).
        monkeypatch.setattr(settings_of(stack), "key_retry_window_s", 0.0)
        monkeypatch.setattr(settings_of(stack), "peer_keys_cache_s", 0.0)
        states = await published(stack)
        assert old.kid not in states and states[new_kid] == "active" and "retiring" not in states.values()
        async with stack["federation"].sessionmaker() as session:
            retired = await session.get(FederationKey, old.kid)
            assert retired is not None and retired.state == "removed"

        late = await craft(stack, home, recipient=peer.source, agreement_id=agreement_id, key=old)
        assert_problem(await put(stack, late), 401, "federation-unknown-key")
        current = await craft(stack, home, recipient=peer.source, agreement_id=agreement_id, allocate=True)
        assert envelope.signature_header(current.signature)["kid"] == new_kid
        accepted = await put(stack, current)
        assert accepted.status_code == 200 and accepted.json()["status"] == "applied", accepted.text

    async def test_fed6_a_rotation_publishes_the_next_key_ahead_of_use_and_never_reuses_a_kid(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        home, peer = network(stack, "fed6-home"), network(stack, "fed6-peer")
        agreement_id = await accepted_agreement(stack, home, peer)
        contractor = stack.staff(roles=("contractor",))
        operator = stack.staff(roles=("operator",))
        client = stack["federation"].client
        signing = await active_key(stack)

        assert_problem(
            await client.post("/keys/rotation", json={}, headers=operator.headers), 403, "forbidden"
        )
        ahead = await client.post(
            "/keys/rotation", json={"publish_ahead_s": 3600}, headers=contractor.headers
        )
        assert ahead.status_code == 201, ahead.text
        upcoming = ahead.json()["kid"]
        assert ahead.json()["state"] == "next"
        states = await published(stack)
        assert states[upcoming] == "next" and states[signing.kid] == "active"
        # Published, but it does not sign yet.
        assert (await active_key(stack)).kid == signing.kid
        # Activate it now (a second rotation while one is pending brings the pending key forward).
        now = await client.post("/keys/rotation", json={"publish_ahead_s": 0}, headers=contractor.headers)
        assert now.json()["kid"] == upcoming and now.json()["state"] == "active"
        async with stack["federation"].sessionmaker() as session:
            kids = list(await session.scalars(sa.select(FederationKey.kid)))
            await keys.advance(session, settings_of(stack))
        assert len(kids) == len(set(kids))
        # A key made active at once (no publishing ahead) is unknown to a peer whose cached keys predate it; once
        # that copy is refreshed (peer_keys_cache_s, here shortened) it verifies.
        monkeypatch.setattr(settings_of(stack), "peer_keys_cache_s", 0.0)
        signed = await craft(stack, home, recipient=peer.source, agreement_id=agreement_id, allocate=True)
        assert envelope.signature_header(signed.signature)["kid"] == upcoming
        accepted = await put(stack, signed)
        assert accepted.status_code == 200 and accepted.json()["status"] == "applied", accepted.text
