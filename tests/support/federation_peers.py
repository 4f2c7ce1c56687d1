"""Federation between the two deployments of tests/support/two_stacks.py: agreements made by their operators
through the real gateways, messages staged at a deployment's database, and what a deployment received."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from federation.agreements import repository as agreements_repository
from federation.keys import service as keys
from federation.keys.service import SigningKey
from federation.messages import envelope, sending
from federation.settings import Settings
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from tests.support.two_stacks import Deployment, wait_for

AUDIT_HEAD = envelope.AUDIT_HEAD


def federation_settings(deployment: Deployment) -> Settings:
    """The deployment's federation settings, as its processes read them (for work done at its database)."""
    return Settings(
        postgres_url="postgresql+asyncpg://postgres@127.0.0.1:5432",
        database_prefix=deployment.prefix,
        base_url=deployment.federation_base_url,
        public_url=deployment.public_url,
    )


@asynccontextmanager
async def federation_database(deployment: Deployment) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(federation_settings(deployment).dsn, pool_size=2)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


async def agreement_state(deployment: Deployment, tenant: str, agreement_id: str) -> str | None:
    async with deployment.federation_api() as client:
        response = await client.get(f"/agreements/{agreement_id}", headers=await deployment.operator(tenant))
    return str(response.json()["state"]) if response.status_code == 200 else None


async def wait_state(deployment: Deployment, tenant: str, agreement_id: str, state: str) -> None:
    async def reached() -> bool:
        return await agreement_state(deployment, tenant, agreement_id) == state

    await wait_for(reached, timeout=60, interval=0.3, what=f"{deployment.name}/{tenant}'s agreement {state}")


async def propose(
    home: Deployment,
    home_tenant: str,
    peer: Deployment,
    peer_tenant: str,
    *,
    event_types: list[str] | None = None,
    professions: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """``home``'s operator proposes an agreement to ``peer``'s network (its base URL is its gateway's peer port,
    its CA pinned); the proposal travels as a signed message through both gateways."""
    async with home.federation_api() as client:
        response = await client.post(
            "/agreements",
            json={
                "peer_base_url": peer.federation_base_url,
                "peer_source": peer.source(peer_tenant),
                "peer_ca_pem": peer.ca_pem,
                "event_types": event_types or [AUDIT_HEAD],
                "professions": professions or {"nurse": ["vitals", "summary"]},
                "cache_limit_hours": 24,
            },
            headers=await home.operator(home_tenant),
        )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def accept(peer: Deployment, peer_tenant: str, agreement_id: str) -> dict[str, Any]:
    async with peer.federation_api() as client:
        response = await client.post(
            f"/agreements/{agreement_id}/acceptance", headers=await peer.operator(peer_tenant)
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def accepted_agreement(
    home: Deployment, home_tenant: str, peer: Deployment, peer_tenant: str, **terms: Any
) -> str:
    proposal = await propose(home, home_tenant, peer, peer_tenant, **terms)
    await wait_state(peer, peer_tenant, proposal["id"], "proposed")
    await accept(peer, peer_tenant, proposal["id"])
    await wait_state(home, home_tenant, proposal["id"], "accepted")
    return str(proposal["id"])


async def send_audit_head(deployment: Deployment, tenant: str, agreement_id: str) -> None:
    async with deployment.federation_api() as client:
        response = await client.post(
            f"/agreements/{agreement_id}/audit-heads", headers=await deployment.operator(tenant)
        )
    assert response.status_code == 200, response.text


async def stage_audit_heads(
    deployment: Deployment, tenant: str, agreement_id: str, count: int, *, batch: int = 100
) -> list[UUID]:
    """``count`` audit-head messages staged at the deployment's database with federation's own use case
    (sending.stage: sequence, signature, outbox row, audit entry), ``batch`` per transaction, as a burst of
    business transactions would stage them. Cheaper than ``count`` operator requests; the same rows."""
    settings = federation_settings(deployment)
    staged: list[UUID] = []
    async with federation_database(deployment) as sessionmaker:
        while len(staged) < count:
            async with sessionmaker() as session, session.begin():
                agreement = await agreements_repository.get(session, tenant, UUID(agreement_id))
                assert agreement is not None and agreement.state == "accepted", agreement
                for _ in range(min(batch, count - len(staged))):
                    number = len(staged) + 1
                    message = await sending.stage(
                        session,
                        settings,
                        agreement=agreement,
                        event_type=AUDIT_HEAD,
                        data={"seal_number": number, "head": f"{number:064x}"},
                    )
                    staged.append(message.id)
    return staged


async def active_key(deployment: Deployment) -> SigningKey:
    async with federation_database(deployment) as sessionmaker, sessionmaker() as session, session.begin():
        return await keys.active_key(session, federation_settings(deployment))


async def rows(deployment: Deployment, query: str, *args: Any, service: str = "federation") -> list[Any]:
    connection = await deployment.connect(service)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def audit_entries(
    deployment: Deployment, action: str, target: str | None = None
) -> list[dict[str, Any]]:
    found = await rows(
        deployment,
        "SELECT target, detail FROM audit_log WHERE action = $1 AND ($2::text IS NULL OR target = $2) ORDER BY seq",
        action,
        target,
    )
    return [
        {"target": r["target"], **(json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"])}
        for r in found
    ]
