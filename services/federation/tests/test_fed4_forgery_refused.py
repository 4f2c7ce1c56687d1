"""fed4: forgery is refused and changes nothing. A tampered body, a signature by a key the sender never published
(under its real kid or an unknown one), a message signed for another network, a replayed transaction and a message
signed outside the allowed clock skew: each refused with problem+json (the replay answered 200 with its first
outcome), nothing applied, and each refusal audited with the signature it carried."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from federation.models import OutgoingMessage

from services.federation.tests.federation_support import (
    Network,
    accepted_agreement,
    active_key,
    assert_problem,
    audit_entries,
    audit_heads_at,
    craft,
    foreign_key,
    network,
    put,
    received,
    settings_of,
    wait_audit_heads,
)
from tests.support.stack import Stack


@pytest.fixture
async def pair(stack: Stack) -> tuple[Network, Network, str]:
    home, peer = network(stack, "fed4-home"), network(stack, "fed4-peer")
    return home, peer, await accepted_agreement(stack, home, peer)


async def refusal_reasons(stack: Stack, receiver: Network) -> list[str]:
    return [e["reason"] for e in await audit_entries(stack, receiver.tenant, "federation.message.refused")]


class TestForgeryRefused:
    async def test_fed4_a_tampered_body_is_refused(
        self, stack: Stack, pair: tuple[Network, Network, str]
    ) -> None:
        home, peer, agreement_id = pair
        message = await craft(stack, home, recipient=peer.source, agreement_id=agreement_id)
        tampered = message.body.replace(b'"seal_number":1', b'"seal_number":2')
        assert tampered != message.body

        assert_problem(await put(stack, message, body=tampered), 401, "federation-signature-invalid")
        assert_problem(await put(stack, message, signature=""), 401, "federation-signature-missing")

        assert await audit_heads_at(stack, peer) == 0 and await received(stack, peer) == []
        refused = await audit_entries(stack, peer.tenant, "federation.message.refused")
        assert [(e["reason"], e["signature"]) for e in refused] == [
            ("federation-signature-invalid", message.signature),
            ("federation-signature-missing", None),
        ]

    async def test_fed4_a_key_the_sender_never_published_is_refused_under_its_kid_or_an_unknown_one(
        self, stack: Stack, pair: tuple[Network, Network, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        home, peer, agreement_id = pair
        published = await active_key(stack)
        posing = await craft(
            stack, home, recipient=peer.source, agreement_id=agreement_id, key=foreign_key(published.kid)
        )
        assert_problem(await put(stack, posing), 401, "federation-signature-invalid")

        # An unknown kid makes the receiver fetch the sender's keys again, once; a second unknown kid within the
        # interval does not (a flood of made-up kids costs the sender's deployment one request).
        monkeypatch.setattr(settings_of(stack), "peer_keys_refetch_interval_s", 1.0)
        await asyncio.sleep(1.1)
        keys = stack["federation"].app.state.peer_keys
        before = keys.fetches
        unknown = await craft(
            stack, home, recipient=peer.source, agreement_id=agreement_id, key=foreign_key()
        )
        body = assert_problem(await put(stack, unknown), 401, "federation-unknown-key")
        assert keys.fetches == before + 1
        another = await craft(
            stack, home, recipient=peer.source, agreement_id=agreement_id, key=foreign_key()
        )
        assert_problem(await put(stack, another), 401, "federation-unknown-key")
        assert keys.fetches == before + 1
        assert body["kid"] != published.kid

        assert await audit_heads_at(stack, peer) == 0 and await received(stack, peer) == []
        assert await refusal_reasons(stack, peer) == [
            "federation-signature-invalid",
            "federation-unknown-key",
            "federation-unknown-key",
        ]

    async def test_fed4_a_message_signed_for_another_network_is_refused(
        self, stack: Stack, pair: tuple[Network, Network, str]
    ) -> None:
        home, peer, agreement_id = pair
        bystander = network(stack, "fed4-bystander")
        # Addressed to a network of another deployment: not ours to take.
        elsewhere = await craft(
            stack, home, recipient="https://elsewhere.invalid/networks/tonari", agreement_id=agreement_id
        )
        assert_problem(await put(stack, elsewhere), 403, "federation-wrong-recipient")
        # Addressed to another network of this deployment, which holds no agreement with the sender.
        redirected = await craft(stack, home, recipient=bystander.source, agreement_id=agreement_id)
        assert_problem(await put(stack, redirected), 403, "federation-unknown-peer")

        for network_ in (peer, bystander):
            assert await audit_heads_at(stack, network_) == 0 and await received(stack, network_) == []
        assert await refusal_reasons(stack, bystander) == ["federation-unknown-peer"]
        assert [e["reason"] for e in await audit_entries(stack, "-", "federation.message.refused")][-1] == (
            "federation-wrong-recipient"
        )

    async def test_fed4_a_replayed_transaction_answers_its_first_outcome_and_applies_nothing_again(
        self, stack: Stack, pair: tuple[Network, Network, str]
    ) -> None:
        home, peer, agreement_id = pair
        sent = await stack["federation"].client.post(
            f"/agreements/{agreement_id}/audit-heads", headers=home.operator.headers
        )
        assert sent.status_code == 200, sent.text
        await wait_audit_heads(stack, peer, 1)
        async with stack["federation"].sessionmaker() as session:
            original = (
                await session.scalars(
                    sa.select(OutgoingMessage).where(
                        OutgoingMessage.tenant == home.tenant,
                        OutgoingMessage.type == "yui.federation.audit-head.v1",
                    )
                )
            ).one()
        headers = {"Yui-Signature": original.signature, "Content-Type": "application/cloudevents+json"}

        for _ in range(2):
            replay = await stack["federation"].client.put(
                f"/federation/v1/transactions/{original.id}", content=original.body.encode(), headers=headers
            )
            assert replay.status_code == 200, replay.text
            answer = replay.json()
            # The answer also carries this side's audit head (issue 12, item 6), as every acknowledgement does.
            assert "audit_head" in answer
            assert {k: v for k, v in answer.items() if k != "audit_head"} == {
                "status": "replayed",
                "first_outcome": {"status": "applied", "sequence": original.sequence},
            }

        assert await audit_heads_at(stack, peer) == 1
        replayed = await audit_entries(stack, peer.tenant, "federation.message.replayed")
        assert [(e["target"], e["signature"]) for e in replayed] == [
            (f"message:{original.id}", original.signature)
        ] * 2
        # The path must name the message it carries.
        moved = await stack["federation"].client.put(
            f"/federation/v1/transactions/{agreement_id}", content=original.body.encode(), headers=headers
        )
        assert_problem(moved, 400, "federation-id-mismatch")

    async def test_fed4_a_message_signed_outside_the_allowed_clock_skew_is_refused(
        self, stack: Stack, pair: tuple[Network, Network, str]
    ) -> None:
        home, peer, agreement_id = pair
        skew = settings_of(stack).clock_skew_s
        stale = await craft(
            stack, home, recipient=peer.source, agreement_id=agreement_id, issued_at=time.time() - skew - 60
        )
        early = await craft(
            stack, home, recipient=peer.source, agreement_id=agreement_id, issued_at=time.time() + skew + 60
        )
        from_the_future = await craft(
            stack,
            home,
            recipient=peer.source,
            agreement_id=agreement_id,
            occurred_at=datetime.now(UTC) + timedelta(seconds=skew + 60),
        )
        for message in (stale, early, from_the_future):
            assert_problem(await put(stack, message), 401, "federation-clock-skew")

        assert await audit_heads_at(stack, peer) == 0 and await received(stack, peer) == []
        assert await refusal_reasons(stack, peer) == ["federation-clock-skew"] * 3
        # Within the skew, the same kind of message applies: the refusals were the clock's, nothing else's.
        fresh = await craft(stack, home, recipient=peer.source, agreement_id=agreement_id, allocate=True)
        applied = await put(stack, fresh)
        assert applied.status_code == 200 and applied.json()["status"] == "applied", applied.text
        assert await audit_heads_at(stack, peer) == 1
