"""The feed: a peer pulls our messages to it after a sequence number (a gap it noticed, or because it can only
poll), with a request it signs; the answer is signed by us. And the puller's side of the same exchange."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import jwt
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yui_common import audit

from federation import problems
from federation.agreements import repository as agreements
from federation.keys import service as keys
from federation.messages import envelope
from federation.messages.peers import PeerClients, PeerKeys
from federation.messages.receiving import Receiver, Refusal, local_tenant, verified_key
from federation.models import OutgoingMessage, ReceiveCursor
from federation.settings import Settings

log = logging.getLogger(__name__)
FEED_PATH = "/federation/v1/feed"
FEED_PAGE = 500


async def verified_proof(
    session: AsyncSession, settings: Settings, peer_keys: PeerKeys, *, proof: str | None, after: int
) -> tuple[str, str, str]:
    """A peer's signed request (the pull proof): (our network's tenant, its source, the asking peer's source)
    once it verifies with the keys of a peer we hold an agreement with. Refusal otherwise."""
    if not proof:
        raise Refusal(problems.signature_missing())
    try:
        claims = jwt.decode(proof, options={"verify_signature": False})
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError:
        raise Refusal(problems.signature_invalid()) from None
    if (
        header.get("typ") != envelope.PULL_TYPE
        or header.get("alg") != "EdDSA"
        or not isinstance(header.get("kid"), str)
    ):
        raise Refusal(problems.signature_invalid())
    puller, sender = str(claims.get("iss", "")), str(claims.get("aud", ""))
    tenant = local_tenant(settings, sender)
    if tenant is None:
        raise Refusal(problems.wrong_recipient())
    held = await agreements.with_peer(session, tenant, puller)
    if not held:
        raise Refusal(problems.unknown_peer())
    agreement = held[0]
    key = await peer_keys.key(agreement.peer_base_url, agreement.peer_ca_pem or None, header["kid"])
    if key is None:
        raise Refusal(problems.unknown_key(header["kid"]))
    try:
        verified = jwt.decode(
            proof,
            key=key,
            algorithms=["EdDSA"],
            audience=sender,
            issuer=puller,
            options={"require": ["iat", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        raise Refusal(problems.signature_invalid()) from None
    if abs(time.time() - float(verified["iat"])) > settings.clock_skew_s or verified.get("after") != after:
        raise Refusal(
            problems.clock_skew() if verified.get("after") == after else problems.signature_invalid()
        )
    return tenant, sender, puller


async def serve_feed(
    session: AsyncSession, settings: Settings, peer_keys: PeerKeys, *, proof: str | None, after: int
) -> tuple[bytes, str]:
    """Our messages to the pulling network after ``after``, in sequence order: the answer's bytes and our
    signature over them. Refusal when the proof does not verify or names no agreement."""
    tenant, sender, puller = await verified_proof(session, settings, peer_keys, proof=proof, after=after)
    rows = await session.scalars(
        sa.select(OutgoingMessage)
        .where(
            OutgoingMessage.tenant == tenant,
            OutgoingMessage.recipient == puller,
            OutgoingMessage.sequence > after,
        )
        .order_by(OutgoingMessage.sequence)
        .limit(FEED_PAGE)
    )
    messages = [{"sequence": m.sequence, "body": m.body, "signature": m.signature} for m in rows]
    answer = json.dumps(
        {"source": sender, "recipient": puller, "after": after, "messages": messages},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    signature = envelope.sign(await keys.active_key(session, settings), answer)
    await audit.record(
        session,
        tenant=tenant,
        actor_id=f"peer:{puller}",
        action="federation.feed.served",
        detail={"after": after, "count": len(messages), "proof": proof, "signature": signature},
    )
    return answer, signature


async def pull_feed(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clients: PeerClients,
    receiver: Receiver,
    tenant: str,
    source: str,
) -> int:
    """Pull what ``source`` sent our network ``tenant`` after what we applied, and receive it in order.
    Returns how many messages the answer held."""
    async with sessionmaker() as session, session.begin():
        held = await agreements.with_peer(session, tenant, source)
        if not held:
            return 0
        agreement = held[0]
        cursor = await session.get(ReceiveCursor, (tenant, source))
        after = cursor.applied_through if cursor else 0
        proof = envelope.pull_proof(
            await keys.active_key(session, settings),
            puller=settings.network_source(tenant),
            sender=source,
            after=after,
        )
        base_url, ca_pem = agreement.peer_base_url, agreement.peer_ca_pem or None
    async with clients.client(base_url, ca_pem) as client:
        response = await client.get(
            FEED_PATH, params={"after": after}, headers={envelope.SIGNATURE_HEADER: proof}
        )
    if response.status_code != 200:
        log.warning("pulling the feed of a peer failed", extra={"status": response.status_code})
        return 0
    answer = response.content
    try:
        await verified_key(
            receiver.peer_keys,
            base_url=base_url,
            ca_pem=ca_pem,
            signature=response.headers.get(envelope.SIGNATURE_HEADER),
            body=answer,
        )
        document: dict[str, Any] = json.loads(answer)
        if document.get("source") != source or document.get("recipient") != settings.network_source(tenant):
            raise Refusal(problems.wrong_recipient())
    except (Refusal, ValueError) as refused:
        log.warning("a peer's feed answer was refused: %s", refused)
        return 0
    messages = list(document.get("messages") or [])
    for item in messages:
        await receiver.receive(
            body=str(item.get("body", "")).encode(),
            signature=item.get("signature"),
            path_id=None,
            via="feed",
            fresh=False,
        )
    return len(messages)


async def pull_gaps(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clients: PeerClients,
    receiver: Receiver,
) -> None:
    """The worker's sweep: every pair that holds stored messages beyond a gap pulls the sender's feed (the
    receiver also pulls at once when it notices a gap; this catches a pull that failed)."""
    async with sessionmaker() as session:
        pairs = (
            await session.execute(
                sa.text(
                    "SELECT DISTINCT r.tenant, r.source FROM received_messages r "
                    "JOIN receive_cursors c ON c.tenant = r.tenant AND c.source = r.source "
                    "WHERE r.status = 'pending' AND r.sequence > c.applied_through + 1"
                )
            )
        ).all()
    for tenant, source in pairs:
        try:
            await pull_feed(
                sessionmaker=sessionmaker,
                settings=settings,
                clients=clients,
                receiver=receiver,
                tenant=tenant,
                source=source,
            )
        except httpx.HTTPError:
            log.warning("pulling a peer's feed failed; will retry")
