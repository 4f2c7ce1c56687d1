"""fed2: the peer may cache what it fetched of a referred subject within the agreement's limit (issue 12, item 4):
when home cannot be reached the peer's staff read the cache, marked as such; past the limit the worker drops it
and nothing is shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from federation.models import Referral
from federation.referrals.effects import expire_caches

from services.federation.tests.referral_support import (
    give_professions,
    ok,
    refer,
    referral_agreement,
    shared_at_peer,
)
from tests.support.networks import build_networks
from tests.support.stack import Stack, eventually


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("home is down", request=request)


async def test_fed2_peer_reads_its_cache_within_the_limit_and_never_after(stack: Stack) -> None:
    home, peer = await build_networks(stack, 2)
    await give_professions(stack, peer, {"nurse": "nurse"})
    agreement_id = await referral_agreement(stack, home, peer, cache_limit_hours=12)
    referral = await refer(stack, home, peer, agreement_id, categories=["visit"])
    await shared_at_peer(stack, peer, referral["id"])
    federation = stack["federation"]
    path = f"/referrals/{referral['id']}/timeline"
    fresh = await ok(await federation.client.get(path, headers=peer.headers("nurse")), 200)
    assert fresh["from_cache"] is False and fresh["posts"]

    clients = federation.app.state.peer_clients
    reachable = clients.transport
    clients.transport = httpx.MockTransport(_unreachable)
    try:
        cached = await ok(await federation.client.get(path, headers=peer.headers("nurse")), 200)
        assert cached["from_cache"] is True and [p["id"] for p in cached["posts"]] == [
            p["id"] for p in fresh["posts"]
        ]
        # Past the agreement's 12 hours the worker's sweep drops it, and home being down is all the peer can say.
        async with federation.sessionmaker() as session, session.begin():
            await session.execute(
                sa.update(Referral)
                .where(Referral.tenant == peer.tenant, Referral.id == referral["id"])
                .values(cached_at=datetime.now(UTC) - timedelta(hours=13))
            )
        async with federation.sessionmaker() as session, session.begin():
            assert await expire_caches(session) >= 1
        async with federation.sessionmaker() as session:
            row = await session.scalar(
                sa.select(Referral).where(Referral.tenant == peer.tenant, Referral.id == referral["id"])
            )
        assert row is not None and row.cached is None and row.cached_at is None
        down = await federation.client.get(path, headers=peer.headers("nurse"))
        assert down.status_code == 503 and down.headers["content-type"].startswith("application/problem+json")
    finally:
        clients.transport = reachable
    again = await ok(await federation.client.get(path, headers=peer.headers("nurse")), 200)
    assert again["from_cache"] is False


async def test_fed2_a_suspended_or_ended_agreement_shares_nothing_its_cache_included(stack: Stack) -> None:
    home, peer = await build_networks(stack, 2)
    await give_professions(stack, peer, {"nurse": "nurse"})
    agreement_id = await referral_agreement(stack, home, peer)
    referral = await refer(stack, home, peer, agreement_id, categories=["visit"])
    await shared_at_peer(stack, peer, referral["id"])
    federation = stack["federation"]
    path = f"/referrals/{referral['id']}/timeline"
    assert (await ok(await federation.client.get(path, headers=peer.headers("nurse")), 200))["posts"]

    async def peer_agreement(state: str) -> bool:
        response = await federation.client.get(
            f"/agreements/{agreement_id}", headers=peer.headers("operator")
        )
        return response.status_code == 200 and response.json()["state"] == state

    await ok(
        await federation.client.post(
            f"/agreements/{agreement_id}/suspension", headers=home.headers("operator")
        ),
        200,
    )
    await eventually(lambda: peer_agreement("suspended"), what="the suspension at the peer")
    # Suspended: the cache is not shown either (home unreachable or not), and the subject leaves the list.
    assert (await federation.client.get(path, headers=peer.headers("nurse"))).status_code == 404
    listed = await ok(await federation.client.get("/referrals/shared", headers=peer.headers("nurse")), 200)
    assert referral["id"] not in {r["id"] for r in listed}

    await ok(
        await federation.client.post(
            f"/agreements/{agreement_id}/resumption", headers=home.headers("operator")
        ),
        200,
    )
    await eventually(lambda: peer_agreement("accepted"), what="the resumption at the peer")
    assert (await federation.client.get(path, headers=peer.headers("nurse"))).status_code == 200

    await ok(
        await federation.client.post(f"/agreements/{agreement_id}/ending", headers=home.headers("operator")),
        200,
    )

    async def purged() -> bool:
        async with federation.sessionmaker() as session:
            row = await session.scalar(
                sa.select(Referral).where(Referral.tenant == peer.tenant, Referral.id == referral["id"])
            )
        return row is not None and row.state == "ended" and row.cached is None

    await eventually(purged, what="the peer's referral ended and its cache dropped with the agreement")
    assert (await federation.client.get(path, headers=peer.headers("nurse"))).status_code == 404
