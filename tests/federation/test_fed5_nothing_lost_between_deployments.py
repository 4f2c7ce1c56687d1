"""fed5 across deployments: deployment b's federation is killed while a stages 1,000 messages to it; b comes back;
every message applies exactly once and in sequence order; b's API killed right after it committed one message and
before it answered is deduplicated on a's retry; a sequence number a skipped is detected by b and pulled from a's
signed feed.

The 1,000 messages are audit heads staged at a's database with federation's own use case (sending.stage, in
transactions of 100: the same rows an operator's request stages, without 1,000 HTTP round trips), then delivered by
a's worker as usual: through b's gateway, with a's client certificate, to b's federation. The crash is federation's
fault-injection setting YUI_FEDERATION_CRASH_AFTER_COMMIT_OF (off unless set: the process exits right after the
commit of that message), given to b's API for one start.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.federation_peers import (
    AUDIT_HEAD,
    accepted_agreement,
    audit_entries,
    rows,
    stage_audit_heads,
)
from tests.support.two_stacks import Deployment, TwoStacks, wait_for

MESSAGES = 1000
CRASH_AT, SKIPPED_AT = 300, 600  # positions among the 1,000
pytestmark = [pytest.mark.timeout(600), pytest.mark.serial]


async def applied_through(deployment: Deployment, tenant: str, source: str) -> int:
    found = await rows(
        deployment,
        "SELECT applied_through FROM receive_cursors WHERE tenant = $1 AND source = $2",
        tenant,
        source,
    )
    return int(found[0]["applied_through"]) if found else 0


class TestNothingLostBetweenDeployments:
    async def test_fed5_messages_queued_while_the_peer_is_down_apply_once_in_order(
        self, stacks: TwoStacks, agreements: dict[str, Any]
    ) -> None:
        a, b = stacks.a, stacks.b
        agreement_id = await accepted_agreement(a, "demo", b, "demo")
        source = a.source("demo")
        before = await applied_through(b, "demo", source)

        b.stop_federation()  # SIGKILL: b's API and worker vanish mid-whatever
        staged = await stage_audit_heads(a, "demo", agreement_id, MESSAGES)
        sequences = {
            r["id"]: int(r["sequence"])
            for r in await rows(a, "SELECT id, sequence FROM outgoing_messages WHERE id = ANY($1)", staged)
        }
        assert sorted(sequences.values()) == list(range(before + 1, before + MESSAGES + 1))
        crashed, skipped = staged[CRASH_AT], staged[SKIPPED_AT]
        # a skips one: marked delivered without ever being sent (a lost request, a bug, a restored backup).
        await rows(a, "UPDATE outgoing_messages SET delivered_at = now() WHERE id = $1 RETURNING id", skipped)

        # b comes back; its API dies right after committing the crash message, before answering it.
        await b.restart_federation(YUI_FEDERATION_CRASH_AFTER_COMMIT_OF=str(crashed))
        await wait_for(
            lambda: b.exit_code("federation-api") is not None, timeout=180, what="b's API to crash"
        )
        assert b.exit_code("federation-api") == 70, b.log("federation-api").read_text()[-2000:]
        b.kill("federation-api")
        b.start("federation-api")
        await b.wait_answering("federation-api")

        async def all_applied() -> bool:
            return await applied_through(b, "demo", source) >= before + MESSAGES

        await wait_for(all_applied, timeout=300, interval=0.5, what=f"b to apply all {MESSAGES} messages")

        received = await rows(
            b,
            "SELECT id, sequence, status, applied_at FROM received_messages "
            "WHERE tenant = 'demo' AND source = $1 AND type = $2 ORDER BY sequence",
            source,
            AUDIT_HEAD,
        )
        # Exactly once: one record per message, each applied, under the sequence a gave it.
        assert len(received) == MESSAGES
        assert {r["id"]: int(r["sequence"]) for r in received} == sequences
        assert {r["status"] for r in received} == {"applied"}
        # In order: applied one after another in sequence order.
        applied_at = [r["applied_at"] for r in received]
        assert applied_at == sorted(applied_at)
        # The effect happened once per message: one peer audit head each, seal numbers 1..1000.
        heads = await rows(
            b,
            "SELECT seal_number FROM peer_audit_heads WHERE tenant = 'demo' AND source = $1 ORDER BY seal_number",
            source,
        )
        assert [int(h["seal_number"]) for h in heads] == list(range(1, MESSAGES + 1))
        assert await applied_through(b, "demo", source) == before + MESSAGES

        # The crash: committed once, and a's retry was answered as a replay (audited as one).
        replays = await audit_entries(b, "federation.message.replayed", f"message:{crashed}")
        assert replays and replays[0]["first_status"] == "applied"
        delivered = await audit_entries(a, "federation.message.delivered", f"message:{crashed}")
        assert len(delivered) == 1 and delivered[0]["status"] == 200

        # The skipped number: never sent by a, noticed as a gap by b and pulled from a's signed feed.
        assert await audit_entries(a, "federation.message.delivered", f"message:{skipped}") == []
        arrivals = await audit_entries(b, "federation.message.received", f"message:{skipped}")
        assert [e["via"] for e in arrivals] == ["feed"] and arrivals[0]["status"] == "applied"
        assert await audit_entries(a, "federation.feed.served")
        agreements["a-demo/b-demo"] = agreement_id
