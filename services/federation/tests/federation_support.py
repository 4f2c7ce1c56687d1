"""Two networks of the test stack's one deployment, their operators, an agreement between them, and messages
made by hand (well signed, or forged) as a peer's deployment would send them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from federation.keys import service as keys
from federation.keys.service import SigningKey
from federation.messages import envelope, sending
from federation.models import PeerAuditHead, ReceivedMessage
from federation.settings import Settings

from tests.support.federation import ca_certificate_pem
from tests.support.stack import Stack, Staff, eventually

AUDIT_HEAD = envelope.AUDIT_HEAD


@dataclass
class Network:
    tenant: str
    operator: Staff
    source: str


def settings_of(stack: Stack) -> Settings:
    settings = stack["federation"].settings
    assert isinstance(settings, Settings)
    return settings


def network(stack: Stack, label: str) -> Network:
    tenant = f"{label}-{uuid4().hex[:8]}"
    operator = stack.staff(tenant=tenant, roles=("operator",))
    return Network(tenant, operator, settings_of(stack).network_source(tenant))


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:yui:problem:{slug}" and body["status"] == status and body["title"], body
    return body


async def propose(stack: Stack, home: Network, peer: Network, **terms: Any) -> dict[str, Any]:
    response = await stack["federation"].client.post(
        "/agreements",
        json={
            "peer_base_url": settings_of(stack).federation_base_url,
            "peer_source": peer.source,
            "peer_ca_pem": ca_certificate_pem(),
            "event_types": [AUDIT_HEAD],
            "professions": {"nurse": ["vitals", "summary"], "care_manager": ["summary"]},
            "cache_limit_hours": 24,
            **terms,
        },
        headers=home.operator.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def agreement_of(stack: Stack, staff: Staff, agreement_id: str) -> httpx.Response:
    return await stack["federation"].client.get(f"/agreements/{agreement_id}", headers=staff.headers)


async def wait_state(stack: Stack, side: Network, agreement_id: str, state: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        response = await agreement_of(stack, side.operator, agreement_id)
        if response.status_code == 200 and response.json()["state"] == state:
            return response.json()  # type: ignore[no-any-return]
        return None

    found: dict[str, Any] = await eventually(reached, what=f"{side.tenant}'s agreement to be {state}")
    return found


async def accepted_agreement(stack: Stack, home: Network, peer: Network) -> str:
    """An agreement proposed by ``home`` and accepted by ``peer``, both through the protocol."""
    proposal = await propose(stack, home, peer)
    await wait_state(stack, peer, proposal["id"], "proposed")
    accepted = await stack["federation"].client.post(
        f"/agreements/{proposal['id']}/acceptance",
        json={"peer_ca_pem": ca_certificate_pem()},
        headers=peer.operator.headers,
    )
    assert accepted.status_code == 200, accepted.text
    await wait_state(stack, home, proposal["id"], "accepted")
    return str(proposal["id"])


async def active_key(stack: Stack) -> SigningKey:
    async with stack["federation"].sessionmaker() as session, session.begin():
        return await keys.active_key(session, settings_of(stack))


async def next_sequence(stack: Stack, sender: Network, recipient: str, *, allocate: bool) -> int:
    """The sender's next number for this pair: taken (the receiver will record the message) or only peeked at
    (the receiver refuses the message before recording it, so the number stays free)."""
    async with stack["federation"].sessionmaker() as session, session.begin():
        if allocate:
            return await sending.allocate_sequence(session, sender.tenant, recipient)
        last = await session.scalar(
            sa.text("SELECT last_sequence FROM sequence_counters WHERE tenant = :t AND recipient = :r"),
            {"t": sender.tenant, "r": recipient},
        )
        return int(last or 0) + 1


@dataclass
class Crafted:
    id: UUID
    body: bytes
    signature: str


async def craft(
    stack: Stack,
    sender: Network,
    *,
    recipient: str,
    agreement_id: str,
    event_type: str = AUDIT_HEAD,
    data: dict[str, Any] | None = None,
    key: SigningKey | None = None,
    issued_at: float | None = None,
    occurred_at: datetime | None = None,
    allocate: bool = False,
) -> Crafted:
    sequence = await next_sequence(stack, sender, recipient, allocate=allocate)
    message_id, body = envelope.build_body(
        source=sender.source,
        recipient=recipient,
        event_type=event_type,
        agreement_id=UUID(agreement_id),
        sequence=sequence,
        data=data if data is not None else {"seal_number": 1, "head": "ab" * 32},
        occurred_at=occurred_at,
    )
    signature = envelope.sign(key or await active_key(stack), body, issued_at=issued_at)
    return Crafted(message_id, body, signature)


def foreign_key(kid: str | None = None) -> SigningKey:
    """A key this deployment never published (under its own kid, or posing as ``kid``)."""
    return SigningKey(kid or str(uuid4()), Ed25519PrivateKey.generate())


async def put(
    stack: Stack, message: Crafted, *, body: bytes | None = None, signature: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/cloudevents+json"}
    if signature != "":
        headers[envelope.SIGNATURE_HEADER] = signature or message.signature
    return await stack["federation"].client.put(
        f"/federation/v1/transactions/{message.id}",
        content=body if body is not None else message.body,
        headers=headers,
    )


async def audit_heads_at(stack: Stack, receiver: Network) -> int:
    async with stack["federation"].sessionmaker() as session:
        count = await session.scalar(
            sa.select(sa.func.count())
            .select_from(PeerAuditHead)
            .where(PeerAuditHead.tenant == receiver.tenant)
        )
    return int(count or 0)


async def wait_audit_heads(stack: Stack, receiver: Network, count: int, timeout: float = 30.0) -> None:
    async def arrived() -> bool:
        return await audit_heads_at(stack, receiver) == count

    await eventually(arrived, timeout=timeout, what=f"{count} audit heads at {receiver.tenant}")


async def received(stack: Stack, receiver: Network, *, event_type: str = AUDIT_HEAD) -> list[ReceivedMessage]:
    """The messages of one type recorded for a network (the agreement's own messages are left out)."""
    async with stack["federation"].sessionmaker() as session:
        rows = await session.scalars(
            sa.select(ReceivedMessage)
            .where(ReceivedMessage.tenant == receiver.tenant, ReceivedMessage.type == event_type)
            .order_by(ReceivedMessage.sequence)
        )
        return list(rows)


async def audit_entries(stack: Stack, tenant: str, action: str) -> list[dict[str, Any]]:
    async with stack["federation"].sessionmaker() as session:
        rows = await session.execute(
            sa.text("SELECT target, detail FROM audit_log WHERE tenant = :t AND action = :a ORDER BY seq"),
            {"t": tenant, "a": action},
        )
        return [
            {"target": r.target, **(r.detail if isinstance(r.detail, dict) else json.loads(r.detail))}
            for r in rows
        ]


def now() -> float:
    return time.time()
