"""fed1 across deployments: an operator of deployment a proposes to a network of deployment b through both real
gateways (mutual TLS, each side's CA pinned by the other), b's operator accepts, audit heads cross both ways and
apply; a network of a that holds no agreement with b's network is refused and changes nothing."""

from __future__ import annotations

import json
import time
from typing import Any
from uuid import UUID

import pytest
from federation.messages import envelope

from tests.support.federation_peers import (
    AUDIT_HEAD,
    accept,
    active_key,
    agreement_state,
    audit_entries,
    propose,
    rows,
    send_audit_head,
    wait_state,
)
from tests.support.two_stacks import TwoStacks, wait_for

# Two deployments of real processes: alone, after the parallel phase (under the suite's load their start and
# retries outran the timeouts).
pytestmark = pytest.mark.serial


async def audit_heads(stacks_side: Any, tenant: str, source: str) -> list[Any]:
    return await rows(
        stacks_side,
        "SELECT seal_number, head FROM peer_audit_heads WHERE tenant = $1 AND source = $2 ORDER BY received_at",
        tenant,
        source,
    )


class TestAgreementBetweenDeployments:
    async def test_fed1_proposal_acceptance_and_audit_heads_cross_the_gateways(
        self, stacks: TwoStacks, agreements: dict[str, Any]
    ) -> None:
        a, b = stacks.a, stacks.b
        proposal = await propose(a, "demo", b, "tonari")
        assert proposal["peer_base_url"] == b.federation_base_url and proposal["state"] == "proposed"
        # Nothing crosses but agreement steps until b accepts: b holds the proposal, not yet in force.
        await wait_state(b, "tonari", proposal["id"], "proposed")
        async with a.federation_api() as client:
            early = await client.post(
                f"/agreements/{proposal['id']}/audit-heads", headers=await a.operator("demo")
            )
        assert early.status_code == 409, early.text

        await accept(b, "tonari", proposal["id"])
        await wait_state(a, "demo", proposal["id"], "accepted")
        agreements["a-demo/b-tonari"] = proposal["id"]

        # Each side audited the other's step with its signature (detached JWS) on arrival.
        received_at_b = await audit_entries(b, "federation.message.received")
        assert any(e["type"] == envelope.AGREEMENT_PROPOSED and e["signature"] for e in received_at_b)
        received_at_a = await audit_entries(a, "federation.message.received")
        assert any(e["type"] == envelope.AGREEMENT_ACCEPTED and e["signature"] for e in received_at_a)

        # Audit heads cross both ways and apply.
        await send_audit_head(a, "demo", proposal["id"])
        await send_audit_head(b, "tonari", proposal["id"])
        at_b = await wait_for(lambda: audit_heads(b, "tonari", a.source("demo")), what="a's audit head at b")
        at_a = await wait_for(lambda: audit_heads(a, "demo", b.source("tonari")), what="b's audit head at a")
        assert len(at_b) == 1 and len(at_a) == 1
        # They name each side's real seal (each worker seals its own log), or none yet: never the other's.
        seals_a = {r["head"] for r in await rows(a, "SELECT head FROM audit_seals")}
        assert at_b[0]["head"] is None or at_b[0]["head"] in seals_a

    async def test_fed1_a_network_without_an_agreement_is_refused_across_deployments(
        self, stacks: TwoStacks
    ) -> None:
        """a's tonari holds no agreement with b's demo: its well-signed message, sent with a's pinned client
        certificate through b's gateway, is refused by federation with problem+json and applies nothing."""
        a, b = stacks.a, stacks.b
        message_id, body = envelope.build_body(
            source=a.source("tonari"),
            recipient=b.source("demo"),
            event_type=AUDIT_HEAD,
            agreement_id=UUID("01900000-0000-7000-8000-000000000001"),
            sequence=1,
            data={"seal_number": 1, "head": "ab" * 32},
        )
        signature = envelope.sign(await active_key(a), body, issued_at=time.time())
        async with b.peer_client(certificate=a.client_certificate) as client:
            answered = await client.put(
                f"/federation/v1/transactions/{message_id}",
                content=body,
                headers={
                    "Content-Type": "application/cloudevents+json",
                    envelope.SIGNATURE_HEADER: signature,
                },
            )
        assert answered.status_code == 403, answered.text
        assert answered.headers["content-type"].startswith("application/problem+json")
        assert answered.json()["type"] == "urn:yui:problem:federation-unknown-peer"
        assert await rows(b, "SELECT 1 FROM received_messages WHERE id = $1", message_id) == []
        refused = await audit_entries(b, "federation.message.refused", f"message:{message_id}")
        assert [e["reason"] for e in refused] == ["federation-unknown-peer"] and refused[0]["signature"]

    async def test_fed1_a_suspended_agreement_lets_nothing_cross(
        self, stacks: TwoStacks, agreements: dict[str, Any]
    ) -> None:
        a, b = stacks.a, stacks.b
        proposal = await propose(b, "demo", a, "tonari")  # the other way round: b proposes, a accepts
        await wait_state(a, "tonari", proposal["id"], "proposed")
        await accept(a, "tonari", proposal["id"])
        await wait_state(b, "demo", proposal["id"], "accepted")
        async with a.federation_api() as client:
            suspended = await client.post(
                f"/agreements/{proposal['id']}/suspension", headers=await a.operator("tonari")
            )
        assert suspended.status_code == 200, suspended.text
        await wait_state(b, "demo", proposal["id"], "suspended")
        async with b.federation_api() as client:
            refused = await client.post(
                f"/agreements/{proposal['id']}/audit-heads", headers=await b.operator("demo")
            )
        assert refused.status_code == 409, refused.text
        assert json.loads(refused.text)["type"].startswith("urn:yui:problem:")
        assert await agreement_state(a, "tonari", proposal["id"]) == "suspended"
