"""fed3 across deployments: a withdrawal of consent at deployment a reaches deployment b. b's next fetch once a's
federation has heard of it is refused (410, through both gateways); b purges and acknowledges with a signed message
(its audit head) and a's cascade (consent's `GET /subjects/{id}/withdrawals`) shows b as a row `peer:<name>`, done.
Then with b's federation killed (SIGKILL, API and worker), a withdraws another referred subject: a refuses b's
signed request for it at once (the request is made as b's federation makes it: b's key, b's client certificate,
a's peer port), the peer row stays pending while a's worker retries, and once b restarts the acknowledgement
arrives and the row is done."""

from __future__ import annotations

import json
from typing import Any

import pytest
from federation.messages import envelope

from tests.support.federation_peers import rows
from tests.support.referral_peers import (
    HOME,
    PEER,
    Staff,
    Subject,
    ask_home_as_peer,
    cascade_steps,
    fetch,
    home_subject,
    peer_staff,
    refer,
    referral_agreement,
    referral_row,
    shared_at_peer,
    sign_in,
    withdraw,
)
from tests.support.two_stacks import TwoStacks, wait_for

pytestmark = [pytest.mark.timeout(600), pytest.mark.serial]


async def _referred(
    stacks: TwoStacks, agreements: dict[str, Any], doctor: dict[str, str], nurse: Staff, label: str
) -> tuple[Subject, dict[str, Any]]:
    """A subject of a referred to b's clinic, read once by b's nurse (b caches it; a has b's keys)."""
    subject = await home_subject(stacks.a, doctor, label)
    referral = await refer(
        stacks.a, doctor, subject, await referral_agreement(stacks, agreements), categories=["visit"]
    )
    await shared_at_peer(stacks.b, nurse, referral["id"])
    answer = await fetch(stacks.b, nurse, referral["id"])
    assert answer.status_code == 200 and answer.json()["posts"], answer.text
    return subject, referral


async def _federation_heard(stacks: TwoStacks, subject_id: str) -> bool:
    found = await rows(
        stacks.a, "SELECT consent_active FROM subjects WHERE subject_id = $1::uuid", subject_id
    )
    return bool(found) and found[0]["consent_active"] is False


class TestWithdrawalBetweenDeployments:
    async def test_fed3_withdrawal_refuses_the_peer_which_purges_and_acknowledges(
        self, care: TwoStacks, agreements: dict[str, Any]
    ) -> None:
        a, b = care.a, care.b
        doctor = await sign_in(a, HOME, "doctor")
        nurse = (await peer_staff(b))["nurse"]
        subject, referral = await _referred(care, agreements, doctor, nurse, "fed3-1")
        assert (await referral_row(b, PEER, referral["id"]))["cached"] is not None

        await withdraw(a, doctor, subject.id)
        await wait_for(
            lambda: _federation_heard(care, subject.id), what="a's federation to hear of the withdrawal"
        )
        # b's next fetch is refused: a answered 410 through the gateways, b says so to its nurse.
        refused = await fetch(b, nurse, referral["id"])
        assert refused.status_code == 410, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        peer_row = f"peer:{referral['peer_network_name']}"

        async def acknowledged() -> dict[str, dict[str, Any]] | None:
            steps = await cascade_steps(a, doctor, subject.id)
            return steps if steps.get(peer_row, {}).get("completed_at") else None

        steps = await wait_for(acknowledged, what="b's acknowledgement in a's cascade")
        assert {"timeline", "notify", "federation", peer_row} <= set(steps)
        assert steps["federation"]["completed_at"] and steps["federation"]["items_affected"] == 1
        at_b = await referral_row(b, PEER, referral["id"])
        assert at_b["state"] == "withdrawn" and at_b["cached"] is None
        at_a = await referral_row(a, HOME, referral["id"])
        acknowledgement = _json(at_a["acknowledgement"])
        assert at_a["acknowledged_at"] is not None and acknowledgement["purged"]["referrals"] == 1
        assert "audit_head" in acknowledgement and acknowledgement["message_id"]
        # a keeps the acknowledgement's signature (b's key) in its audit log.
        signed = await rows(
            a,
            "SELECT detail->>'signature' AS signature FROM audit_log WHERE action = 'federation.message.received'"
            " AND detail->>'type' = $1 AND target = $2",
            envelope.WITHDRAWAL_ACKNOWLEDGED,
            f"message:{acknowledgement['message_id']}",
        )
        assert signed and signed[0]["signature"], acknowledgement
        async with b.federation_api() as federation:
            shared = await federation.get("/referrals/shared", headers=nurse.headers)
        assert referral["id"] not in {r["id"] for r in shared.json()}

    async def test_fed3_peer_killed_home_refuses_at_once_and_the_acknowledgement_follows_its_restart(
        self, care: TwoStacks, agreements: dict[str, Any]
    ) -> None:
        a, b = care.a, care.b
        doctor = await sign_in(a, HOME, "doctor")
        nurse = (await peer_staff(b))["nurse"]
        subject, referral = await _referred(care, agreements, doctor, nurse, "fed3-2")
        # What b's federation sends a for the nurse's read is answered while consent stands.
        assert (await ask_home_as_peer(care, nurse, referral["id"])).status_code == 200

        b.kill("federation-api")
        b.kill("federation-worker")
        try:
            await withdraw(a, doctor, subject.id)

            async def refused() -> bool:
                return (await ask_home_as_peer(care, nurse, referral["id"])).status_code == 410

            await wait_for(
                refused, timeout=10, interval=0.05, what="a to refuse b's read after the withdrawal"
            )
            answer = await ask_home_as_peer(care, nurse, referral["id"])
            assert answer.status_code == 410 and answer.headers["content-type"].startswith(
                "application/problem+json"
            )
            peer_row = f"peer:{referral['peer_network_name']}"

            async def pending() -> dict[str, Any] | None:
                return (await cascade_steps(a, doctor, subject.id)).get(peer_row)

            row = await wait_for(pending, what="b's row in a's cascade")
            assert row["completed_at"] is None
            # a's worker keeps trying b's dead federation (through b's gateway, which still answers): the order
            # to purge is undelivered after several attempts, and the row still waits.

            async def retried() -> bool:
                found = await rows(
                    a,
                    "SELECT attempts FROM outgoing_messages WHERE type = $1 AND strpos(body, $2) > 0"
                    " AND delivered_at IS NULL",
                    envelope.CONSENT_WITHDRAWN,
                    referral["id"],
                )
                return bool(found) and int(found[0]["attempts"]) >= 3

            await wait_for(retried, timeout=30, interval=0.3, what="a's worker retrying b")
            assert (await cascade_steps(a, doctor, subject.id))[peer_row]["completed_at"] is None
            assert (await referral_row(a, HOME, referral["id"]))["acknowledged_at"] is None
        finally:
            await b.restart_federation()

        async def acknowledged() -> bool:
            return bool((await cascade_steps(a, doctor, subject.id))[peer_row]["completed_at"])

        await wait_for(acknowledged, timeout=120, interval=0.3, what="the acknowledgement after b's restart")
        assert (await referral_row(b, PEER, referral["id"]))["state"] == "withdrawn"
        assert (await referral_row(a, HOME, referral["id"]))["acknowledged_at"] is not None


def _json(value: Any) -> dict[str, Any]:
    return dict(json.loads(value) if isinstance(value, str) else value)


class TestWithdrawalHeardByTimelineFirst:
    async def test_fed3_peer_fetch_is_410_and_purges_when_home_timeline_heard_before_federation(
        self, care: TwoStacks, agreements: dict[str, Any]
    ) -> None:
        """a's federation worker is stopped, so a's federation still holds consent when b fetches, grants, and a's
        timeline (which has heard) refuses: b's nurse is told support stopped (410), not "not yours" (404), and b
        drops its cache at that fetch."""
        a, b = care.a, care.b
        doctor = await sign_in(a, HOME, "doctor")
        nurse = (await peer_staff(b))["nurse"]
        subject, referral = await _referred(care, agreements, doctor, nurse, "fed3-3")
        a.kill("federation-worker")
        try:
            await withdraw(a, doctor, subject.id)

            async def timeline_stopped() -> bool:
                found = await rows(
                    a,
                    "SELECT support_stopped_at FROM subject_access WHERE subject_id = $1::uuid",
                    subject.id,
                    service="timeline",
                )
                return bool(found) and found[0]["support_stopped_at"] is not None

            await wait_for(timeline_stopped, what="a's timeline to hear of the withdrawal")
            assert not await _federation_heard(care, subject.id)
            refused = await fetch(b, nurse, referral["id"])
            assert refused.status_code == 410, refused.text
            assert (await referral_row(b, PEER, referral["id"]))["cached"] is None
        finally:
            a.start("federation-worker")
        await wait_for(lambda: _federation_heard(care, subject.id), what="a's federation to catch up")
