"""Messages of one peer apply in sequence order: a dropped sequence number is noticed by the receiver, which
stores what came early, pulls the gap from the sender's feed (a request it signs; an answer the sender signs),
and then applies everything in order. The feed also serves a peer that can only poll."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from federation.messages import envelope
from federation.models import OutgoingMessage

from services.federation.tests.federation_support import (
    accepted_agreement,
    assert_problem,
    audit_entries,
    network,
    received,
    wait_audit_heads,
)
from tests.support.stack import Stack, eventually


def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("the peer is unreachable", request=request)


class TestSequenceGaps:
    async def test_a_dropped_sequence_number_is_pulled_from_the_feed_and_applied_in_order(
        self, stack: Stack
    ) -> None:
        home, peer = network(stack, "gap-home"), network(stack, "gap-peer")
        agreement_id = await accepted_agreement(stack, home, peer)
        client = stack["federation"].client
        delivery = stack["federation"].worker.peer_clients  # type: ignore[union-attr]
        reachable = delivery.transport
        delivery.transport = httpx.MockTransport(unreachable)
        try:
            for _ in range(3):
                sent = await client.post(
                    f"/agreements/{agreement_id}/audit-heads", headers=home.operator.headers
                )
                assert sent.status_code == 200, sent.text
            async with stack["federation"].sessionmaker() as session:
                staged = list(
                    await session.scalars(
                        sa.select(OutgoingMessage)
                        .where(
                            OutgoingMessage.tenant == home.tenant, OutgoingMessage.type == envelope.AUDIT_HEAD
                        )
                        .order_by(OutgoingMessage.sequence)
                    )
                )
            first, dropped, third = staged
            assert (first.sequence + 1, first.sequence + 2) == (dropped.sequence, third.sequence)

            async def deliver(message: OutgoingMessage) -> httpx.Response:
                return await client.put(
                    f"/federation/v1/transactions/{message.id}",
                    content=message.body.encode(),
                    headers={envelope.SIGNATURE_HEADER: message.signature},
                )

            assert (await deliver(first)).json()["status"] == "applied"
            # The second is lost on the way; the third arrives: stored, not applied, and the gap is pulled.
            early = await deliver(third)
            assert early.status_code == 202, early.text
            assert {k: v for k, v in early.json().items() if k != "audit_head"} == {
                "status": "pending",
                "sequence": third.sequence,
                "applied_through": first.sequence,
            }

            await wait_audit_heads(stack, peer, 3)
        finally:
            delivery.transport = reachable

        by_id = {m.id: m for m in await received(stack, peer)}
        assert [by_id[m.id].status for m in staged] == ["applied"] * 3
        applied_at = [by_id[m.id].applied_at for m in staged]
        assert applied_at == sorted(applied_at)  # in order: the pulled second before the stored third
        served = await audit_entries(stack, home.tenant, "federation.feed.served")
        assert served and served[-1]["after"] == first.sequence and served[-1]["count"] >= 2
        # The worker's own deliveries, once the peer is reachable, are replays: nothing applies twice.

        async def all_delivered() -> bool:
            async with stack["federation"].sessionmaker() as session:
                waiting = await session.scalar(
                    sa.select(sa.func.count())
                    .select_from(OutgoingMessage)
                    .where(OutgoingMessage.tenant == home.tenant, OutgoingMessage.delivered_at.is_(None))
                )
            return waiting == 0

        await eventually(all_delivered, what="the worker to deliver the staged messages")
        await wait_audit_heads(stack, peer, 3)

    async def test_the_feed_answers_only_a_signed_request_of_a_peer_holding_an_agreement(
        self, stack: Stack
    ) -> None:
        home, peer = network(stack, "gap-home"), network(stack, "gap-peer")
        await accepted_agreement(stack, home, peer)
        client = stack["federation"].client

        assert_problem(
            await client.get("/federation/v1/feed", params={"after": 0}), 401, "federation-signature-missing"
        )
        assert_problem(
            await client.get(
                "/federation/v1/feed", params={"after": 0}, headers={envelope.SIGNATURE_HEADER: "x.y.z"}
            ),
            401,
            "federation-signature-invalid",
        )
        refused = await audit_entries(stack, "-", "federation.feed.refused")
        assert refused[-2:] and {e["reason"] for e in refused[-2:]} == {
            "federation-signature-missing",
            "federation-signature-invalid",
        }
