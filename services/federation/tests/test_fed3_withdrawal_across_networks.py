"""fed3: a withdrawal of consent at home reaches the peer network. Home refuses the peer's fetches from the
moment federation hears of it, the peer purges the referral and what it cached and answers with a signed
acknowledgement (its audit head), and home's cascade shows the peer as a row beside timeline and notify; with the
peer unreachable, home still refuses, the row waits (flagged after a minute), and the acknowledgement arrives once
the peer is back (issue 12). Two networks of one deployment: "unreachable" is the worker's deliveries failing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from federation.models import Referral

from services.federation.tests.referral_support import (
    give_professions,
    ok,
    refer,
    referral_agreement,
    shared_at_peer,
)
from tests.support.networks import NetworkWorld, build_networks
from tests.support.stack import Stack, eventually


async def _referred(stack: Stack) -> tuple[NetworkWorld, NetworkWorld, dict[str, Any]]:
    home, peer = await build_networks(stack, 2)
    await give_professions(stack, peer, {"nurse": "nurse"})
    agreement_id = await referral_agreement(stack, home, peer)
    referral = await refer(stack, home, peer, agreement_id, categories=["visit"])
    await shared_at_peer(stack, peer, referral["id"])
    fetched = await stack["federation"].client.get(
        f"/referrals/{referral['id']}/timeline", headers=peer.headers("nurse")
    )
    assert fetched.status_code == 200 and fetched.json()["posts"], fetched.text
    # A post after the referral: the peer's nurse is notified of it (fed2), and loses it on withdrawal.
    await ok(
        await stack["timeline"].client.post(
            f"/subjects/{home.ids['subject']}/posts",
            json={"category": "visit", "body": "紹介後の訪問"},
            headers=home.headers("doctor"),
        ),
        201,
    )

    async def told() -> bool:
        inbox = await ok(
            await stack["notify"].client.get("/notifications", headers=peer.headers("nurse")), 200
        )
        return any(n["kind"] == "federation.shared_post" for n in inbox["items"])

    await eventually(told, what="the peer's nurse notified")
    return home, peer, referral


async def _withdraw(stack: Stack, home: NetworkWorld) -> dict[str, Any]:
    withdrawal: dict[str, Any] = await ok(
        await stack["consent"].client.post(
            f"/subjects/{home.ids['subject']}/withdrawals",
            json={"requested_by": "subject"},
            headers=home.headers("doctor"),
        ),
        201,
    )
    return withdrawal


async def _refused_at_peer(stack: Stack, peer: NetworkWorld, referral_id: str) -> None:
    async def refused() -> bool:
        response = await stack["federation"].client.get(
            f"/referrals/{referral_id}/timeline", headers=peer.headers("nurse")
        )
        return response.status_code in (404, 410)

    await eventually(refused, timeout=10, what="the peer's fetch refused after the withdrawal")


async def _steps(stack: Stack, home: NetworkWorld) -> dict[str, dict[str, Any]]:
    withdrawals = await ok(
        await stack["consent"].client.get(
            f"/subjects/{home.ids['subject']}/withdrawals", headers=home.headers("doctor")
        ),
        200,
    )
    return {s["service"]: s for s in withdrawals[0]["steps"]}


async def _referral_row(stack: Stack, tenant: str, referral_id: str) -> Referral:
    async with stack["federation"].sessionmaker() as session:
        row = await session.scalar(
            sa.select(Referral).where(Referral.tenant == tenant, Referral.id == referral_id)
        )
    assert row is not None
    return row


async def test_fed3_withdrawal_refuses_the_peer_and_is_acknowledged(stack: Stack) -> None:
    home, peer, referral = await _referred(stack)
    assert (await _referral_row(stack, peer.tenant, referral["id"])).cached is not None
    await _withdraw(stack, home)
    await _refused_at_peer(stack, peer, referral["id"])
    response = await stack["federation"].client.get(
        f"/referrals/{referral['id']}/timeline", headers=peer.headers("nurse")
    )
    assert response.status_code == 410 and response.headers["content-type"].startswith(
        "application/problem+json"
    )
    peer_name = referral["peer_network_name"]

    async def acknowledged() -> dict[str, dict[str, Any]] | None:
        steps = await _steps(stack, home)
        peer_step = steps.get(f"peer:{peer_name}")
        return steps if peer_step and peer_step["completed_at"] else None

    steps = await eventually(acknowledged, what="the peer's acknowledgement in home's cascade")
    assert {"timeline", "notify", "federation", f"peer:{peer_name}"} <= set(steps)
    assert steps["federation"]["completed_at"] and steps["federation"]["items_affected"] == 1
    # The peer purged the referral and its cache; home holds the signed acknowledgement with the peer's audit head.
    at_peer = await _referral_row(stack, peer.tenant, referral["id"])
    assert at_peer.state == "withdrawn" and at_peer.cached is None
    at_home = await _referral_row(stack, home.tenant, referral["id"])
    assert at_home.acknowledged_at is not None and at_home.acknowledgement
    # The cache went at the peer's first refused fetch (home's 410) or with the order, whichever came first.
    assert at_home.acknowledgement["purged"]["referrals"] == 1
    assert "audit_head" in at_home.acknowledgement and at_home.acknowledgement["message_id"]
    shared = await ok(
        await stack["federation"].client.get("/referrals/shared", headers=peer.headers("nurse")), 200
    )
    assert referral["id"] not in {r["id"] for r in shared}

    # Nor do the peer's notifications about the subject stay (their names and excerpts).
    async def forgotten() -> bool:
        inbox = await ok(
            await stack["notify"].client.get("/notifications", headers=peer.headers("nurse")), 200
        )
        return not [n for n in inbox["items"] if n["kind"] == "federation.shared_post"]

    await eventually(forgotten, what="the peer's notifications about the subject gone")
    async with stack["federation"].sessionmaker() as session:
        signed = await session.scalar(
            sa.text(
                "SELECT detail->>'signature' FROM audit_log WHERE tenant = :t AND action = 'federation.message.received'"
                " AND detail->>'type' = 'yui.federation.withdrawal-acknowledged.v1'"
            ),
            {"t": home.tenant},
        )
    assert signed, "home's audit log keeps the acknowledgement's signature"


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("the peer is down", request=request)


async def test_fed3_peer_down_home_refuses_at_once_and_the_acknowledgement_follows(stack: Stack) -> None:
    home, peer, referral = await _referred(stack)
    worker = stack["federation"].worker
    assert worker is not None
    reachable = worker.peer_clients.transport  # type: ignore[attr-defined]
    worker.peer_clients.transport = httpx.MockTransport(_unreachable)  # type: ignore[attr-defined]
    try:
        await _withdraw(stack, home)
        # Home refuses on its own: the peer's fetch reaches home's API, which answers 410.
        await _refused_at_peer(stack, peer, referral["id"])
        steps = await _steps(stack, home)
        peer_step = f"peer:{referral['peer_network_name']}"

        async def told() -> bool:
            return peer_step in await _steps(stack, home)

        await eventually(told, what="the peer's row in the cascade")
        steps = await _steps(stack, home)
        assert steps[peer_step]["completed_at"] is None and steps[peer_step]["overdue"] is False
        # A minute later it is flagged (the row's start moved back a minute instead of waiting one).
        async with stack["consent"].sessionmaker() as session, session.begin():
            await session.execute(
                sa.text("UPDATE cascade_steps SET started_at = :t WHERE service = :s"),
                {"t": datetime.now(UTC) - timedelta(minutes=2), "s": peer_step},
            )
        assert (await _steps(stack, home))[peer_step]["overdue"] is True
        assert (await _referral_row(stack, home.tenant, referral["id"])).acknowledged_at is None
    finally:
        worker.peer_clients.transport = reachable  # type: ignore[attr-defined]

    async def acknowledged() -> bool:
        return bool((await _steps(stack, home))[peer_step]["completed_at"])

    await eventually(acknowledged, timeout=120, what="the acknowledgement once the peer is back")
    assert (await _steps(stack, home))[peer_step]["overdue"] is False
    assert (await _referral_row(stack, peer.tenant, referral["id"])).state == "withdrawn"
