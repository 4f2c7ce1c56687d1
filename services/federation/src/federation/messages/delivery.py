"""Delivering staged messages to peers: per (our network, peer network) pair in sequence order, `PUT` with
retries, exponential back-off with jitter. Several worker replicas may run: a pair is delivered by one at a time
(a transaction-scoped advisory lock), so its messages never overtake each other.

At least once: a message is marked delivered after the peer's answer, in the transaction that holds the pair's
lock; a crash before that commit sends it again and the peer answers the replay with its first outcome.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yui_common import audit

from federation.keys import service as keys
from federation.messages import envelope
from federation.messages.peers import PeerClients
from federation.models import Agreement, OutgoingMessage
from federation.settings import Settings

log = logging.getLogger(__name__)
BATCH = 100


def backoff_s(settings: Settings, attempts: int) -> float:
    """Exponential with full jitter (AWS's "Exponential Backoff And Jitter"): uniform in [base, base * 2^n]."""
    ceiling = min(
        settings.delivery_backoff_max_s, settings.delivery_backoff_initial_s * 2 ** max(0, attempts - 1)
    )
    low = settings.delivery_backoff_initial_s
    return random.uniform(low, max(low, ceiling))  # noqa: S311 - jitter, not a secret


def delivered(response: httpx.Response) -> bool:
    """2xx, or a refusal the peer recorded against the message's sequence number (it will never apply, and
    waiting on it would hold up every later message); anything else is retried."""
    if response.is_success:
        return True
    if 400 <= response.status_code < 500:
        try:
            return bool(response.json().get("sequence_consumed"))
        except ValueError:
            return False
    return False


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clients: PeerClients
) -> int:
    """One sweep: every pair with a message due. Returns how many messages were delivered."""
    async with sessionmaker() as session:
        pairs = (
            await session.execute(
                sa.select(OutgoingMessage.tenant, OutgoingMessage.recipient)
                .where(
                    OutgoingMessage.delivered_at.is_(None), OutgoingMessage.next_attempt_at <= sa.func.now()
                )
                .distinct()
            )
        ).all()
    total = 0
    for tenant, recipient in pairs:
        total += await deliver_pair(sessionmaker, settings, clients, tenant=tenant, recipient=recipient)
    return total


async def deliver_pair(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    clients: PeerClients,
    *,
    tenant: str,
    recipient: str,
) -> int:
    done = 0
    async with sessionmaker() as session, session.begin():
        locked = (
            await session.execute(
                sa.text("SELECT pg_try_advisory_xact_lock(hashtextextended(:pair, 6106))"),
                {"pair": f"{tenant}\n{recipient}"},
            )
        ).scalar_one()
        if not locked:
            return 0
        rows = list(
            await session.scalars(
                sa.select(OutgoingMessage)
                .where(
                    OutgoingMessage.tenant == tenant,
                    OutgoingMessage.recipient == recipient,
                    OutgoingMessage.delivered_at.is_(None),
                )
                .order_by(OutgoingMessage.sequence)
                .limit(BATCH)
            )
        )
        if not rows:
            return 0
        now = datetime.now(UTC)
        if rows[0].next_attempt_at > now:
            return 0  # the oldest waits for its back-off, and every later one waits behind it
        agreement = await session.get(Agreement, (tenant, rows[0].agreement_id))
        ca_pem = agreement.peer_ca_pem if agreement else None
        async with clients.client(rows[0].peer_base_url, ca_pem or None) as client:
            for message in rows:
                await _fresh_signature(sessionmaker, session, settings, message)
                try:
                    response = await client.put(
                        f"/federation/v1/transactions/{message.id}",
                        content=message.body.encode(),
                        headers={
                            "Content-Type": "application/cloudevents+json",
                            envelope.SIGNATURE_HEADER: message.signature,
                        },
                    )
                except httpx.HTTPError as error:
                    _retry_later(settings, message, f"{type(error).__name__}")
                    break
                if not delivered(response):
                    _retry_later(settings, message, f"HTTP {response.status_code}")
                    break
                message.delivered_at, message.last_error = datetime.now(UTC), None
                message.attempts += 1
                try:
                    peer_head = response.json().get("audit_head")
                except ValueError:
                    peer_head = None
                await audit.record(
                    session,
                    tenant=tenant,
                    actor_id="federation",
                    action="federation.message.delivered",
                    target=f"message:{message.id}",
                    detail={
                        "recipient": recipient,
                        "sequence": message.sequence,
                        "status": response.status_code,
                        "signature": message.signature,
                        # The peer's audit seal head as its acknowledgement told it.
                        "peer_audit_head": peer_head,
                    },
                )
                done += 1
    return done


def _retry_later(settings: Settings, message: OutgoingMessage, error: str) -> None:
    message.attempts += 1
    message.last_error = error
    message.next_attempt_at = datetime.now(UTC) + timedelta(seconds=backoff_s(settings, message.attempts))
    log.info(
        "federation delivery failed; retrying later", extra={"attempts": message.attempts, "error": error}
    )


async def _fresh_signature(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    settings: Settings,
    message: OutgoingMessage,
) -> None:
    """A message retried for long is signed again (same bytes) once its signature is older than half the clock
    skew the peer allows; until then it keeps the signature it was staged with (a key rotated meanwhile still
    verifies: it stays published for the retry window). The key is read in a transaction of its own: a key
    change it makes must not stay locked while this delivery waits for a peer, which may be this deployment
    asking for those very keys."""
    try:
        signed_at = int(envelope.signature_header(message.signature)["iat"])
    except ValueError:
        signed_at = 0
    if time.time() - signed_at <= settings.clock_skew_s / 2:
        return
    async with sessionmaker() as own, own.begin():
        key = await keys.active_key(own, settings)
    message.signature = envelope.sign(key, message.body.encode())
    await audit.record(
        session,
        tenant=message.tenant,
        actor_id="federation",
        action="federation.message.re-signed",
        target=f"message:{message.id}",
        detail={"sequence": message.sequence, "signature": message.signature},
    )
