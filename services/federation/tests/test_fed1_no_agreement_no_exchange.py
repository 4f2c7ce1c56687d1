"""fed1: nothing crosses without an agreement in force. A message from an unknown peer, or under an agreement
proposed but not yet accepted, or suspended, is refused with problem+json and applies nothing (the refusal is
audited with the message's signature)."""

from __future__ import annotations

from uuid import uuid4

from federation.messages import envelope

from services.federation.tests.federation_support import (
    accepted_agreement,
    assert_problem,
    audit_entries,
    audit_heads_at,
    craft,
    network,
    propose,
    put,
    received,
    wait_state,
)
from tests.support.stack import Stack


class TestNoAgreementNoExchange:
    async def test_fed1_an_unknown_peer_is_refused_and_nothing_is_recorded(self, stack: Stack) -> None:
        stranger, ours = network(stack, "fed1-stranger"), network(stack, "fed1-ours")
        message = await craft(stack, stranger, recipient=ours.source, agreement_id=str(uuid4()))

        body = assert_problem(await put(stack, message), 403, "federation-unknown-peer")

        assert "sequence_consumed" not in body
        assert await received(stack, ours) == [] and await audit_heads_at(stack, ours) == 0
        refused = await audit_entries(stack, ours.tenant, "federation.message.refused")
        assert [(e["reason"], e["signature"]) for e in refused] == [
            ("federation-unknown-peer", message.signature)
        ]

    async def test_fed1_an_agreement_proposed_but_not_accepted_lets_nothing_cross(self, stack: Stack) -> None:
        home, peer = network(stack, "fed1-home"), network(stack, "fed1-peer")
        agreement_id = (await propose(stack, home, peer))["id"]
        await wait_state(stack, peer, agreement_id, "proposed")
        # The home side itself will not send before acceptance...
        assert_problem(
            await stack["federation"].client.post(
                f"/agreements/{agreement_id}/audit-heads", headers=home.operator.headers
            ),
            409,
            "federation-agreement-state",
        )
        # ... and a well-signed message that tries anyway is refused by the peer.
        message = await craft(stack, home, recipient=peer.source, agreement_id=agreement_id, allocate=True)

        body = assert_problem(await put(stack, message), 403, "federation-agreement-not-in-force")

        assert body["agreement_state"] == "proposed"
        assert await audit_heads_at(stack, peer) == 0
        statuses = {str(r.id): r.status for r in await received(stack, peer)}
        assert statuses[str(message.id)] == "refused"  # recorded against its sequence number, applied nothing
        refused = await audit_entries(stack, peer.tenant, "federation.message.refused")
        assert [e["reason"] for e in refused] == ["federation-agreement-not-in-force"]
        assert refused[0]["signature"] == message.signature
        # Still proposed on both sides.
        await wait_state(stack, peer, agreement_id, "proposed")
        await wait_state(stack, home, agreement_id, "proposed")

    async def test_fed1_a_suspended_agreement_lets_nothing_cross(self, stack: Stack) -> None:
        home, peer = network(stack, "fed1-home"), network(stack, "fed1-peer")
        agreement_id = await accepted_agreement(stack, home, peer)
        suspended = await stack["federation"].client.post(
            f"/agreements/{agreement_id}/suspension", headers=peer.operator.headers
        )
        assert suspended.status_code == 200, suspended.text
        await wait_state(stack, home, agreement_id, "suspended")
        message = await craft(stack, home, recipient=peer.source, agreement_id=agreement_id, allocate=True)

        body = assert_problem(await put(stack, message), 403, "federation-agreement-not-in-force")

        assert body["agreement_state"] == "suspended"
        assert await audit_heads_at(stack, peer) == 0
        # An agreement message out of state is refused too, and changes nothing: a second acceptance.
        again = await craft(
            stack,
            peer,
            recipient=home.source,
            agreement_id=agreement_id,
            event_type=envelope.AGREEMENT_ACCEPTED,
            data={"state": "accepted"},
            allocate=True,
        )
        assert_problem(await put(stack, again), 409, "federation-agreement-state")
        await wait_state(stack, home, agreement_id, "suspended")
        await wait_state(stack, peer, agreement_id, "suspended")
