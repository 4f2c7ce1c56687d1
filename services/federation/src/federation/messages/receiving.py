"""Receiving a peer's message: every check, the idempotent record, the sequence, and the effect.

The checks run before anything is written; a refused message changes nothing but the audit log, which keeps its
signature and the reason (its entry commits on its own). A message that passes is recorded under (source, id) in
the same transaction as its effect, so a replay answers 200 with the first outcome and applies nothing.

Order: messages of one (peer network, our network) pair apply in sequence order. The next expected number
applies; an older one is a duplicate; a later one is stored (`pending`) and the gap is pulled from the sender's
feed, after which the stored ones apply in order. A message that is well signed by a known peer but that the
agreement does not allow (not in force, type not agreed, a step out of state) is recorded as `refused`: it uses
up its sequence number, so the messages after it are not held up, and applies nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yui_common import audit
from yui_common.problems import TYPE_BASE, Problem

from federation import problems
from federation.agreements import repository as agreements
from federation.agreements.schemas import ACCEPTED, ENDED, HOME, PEER, PROPOSED, SUSPENDED
from federation.messages import envelope
from federation.messages.envelope import FederationMessage
from federation.messages.peers import PeerKeys
from federation.models import Agreement, PeerAuditHead, ReceiveCursor, ReceivedMessage
from federation.problems import Refusal
from federation.referrals import effects as referral_effects
from federation.settings import Settings

log = logging.getLogger(__name__)
APPLIED, PENDING, DUPLICATE, REFUSED = "applied", "pending", "duplicate", "refused"


@dataclass
class Outcome:
    """What the receiver answers: an HTTP status and a JSON body (a problem document for a refusal)."""

    status: int
    body: dict[str, Any]
    # Set when the message left a gap: the caller pulls the sender's feed from here on.
    gap_after: int | None = None
    extra_audit: dict[str, Any] = field(default_factory=dict)


def problem_body(problem: Problem, **extensions: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
    }
    if problem.detail:
        body["detail"] = problem.detail
    body.update(problem.extensions)
    body.update(extensions)
    return body


def local_tenant(settings: Settings, recipient: str) -> str | None:
    """Our network a `yuirecipient` names, or None when it names no network of this deployment."""
    prefix = f"{settings.federation_base_url}/networks/"
    if not recipient.startswith(prefix):
        return None
    tenant = recipient[len(prefix) :]
    return tenant if tenant and "/" not in tenant and len(tenant) <= 63 else None


async def _is_closed_network(session: AsyncSession, tenant: str) -> bool:
    row = await session.execute(
        sa.text(
            "SELECT EXISTS (SELECT 1 FROM network_states WHERE tenant = :t AND status <> 'active') "
            "OR EXISTS (SELECT 1 FROM ended_networks WHERE slug = :t)"
        ),
        {"t": tenant},
    )
    return bool(row.scalar_one())


async def verified_key(
    peer_keys: PeerKeys, *, base_url: str, ca_pem: str | None, signature: str | None, body: bytes
) -> dict[str, Any]:
    """The signature's protected header once it verifies over ``body`` with a key the peer publishes."""
    if not signature:
        raise Refusal(problems.signature_missing())
    try:
        header = envelope.signature_header(signature)
    except ValueError:
        raise Refusal(problems.signature_invalid()) from None
    try:
        key = await peer_keys.key(base_url, ca_pem or None, header["kid"])
    except (httpx.HTTPError, ValueError) as error:
        raise Refusal(
            problems.peer_unreachable(f"The sender's keys could not be fetched ({type(error).__name__}).")
        ) from None
    if key is None:
        raise Refusal(problems.unknown_key(header["kid"]))
    if not envelope.verify(signature, body, key):
        raise Refusal(problems.signature_invalid())
    return header


class Receiver:
    """Receives messages for this deployment's networks (the API's PUT and the feed puller share it)."""

    def __init__(
        self,
        *,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        peer_keys: PeerKeys,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.peer_keys = peer_keys

    async def _audit_refusal(
        self,
        *,
        tenant: str | None,
        message: FederationMessage | None,
        signature: str | None,
        problem: Problem,
        via: str,
    ) -> None:
        async with self.sessionmaker() as session, session.begin():
            await audit.record(
                session,
                tenant=tenant or "-",
                actor_id=f"peer:{message.source}" if message else "peer:unknown",
                action="federation.message.refused",
                target=f"message:{message.id}" if message else None,
                detail={
                    "reason": problem.slug,
                    "via": via,
                    "type": message.type if message else None,
                    "source": message.source if message else None,
                    "sequence": message.yuisequence if message else None,
                    "signature": signature,
                },
            )

    async def receive(
        self,
        *,
        body: bytes,
        signature: str | None,
        path_id: UUID | None,
        via: str = "put",
        fresh: bool = True,
    ) -> Outcome:
        """Check, record and apply one message. ``fresh`` is False for a message served in a signed feed answer
        (its own signature may be old; the answer's is fresh)."""
        message: FederationMessage | None = None
        tenant: str | None = None
        try:
            try:
                message = envelope.parse_body(body)
            except ValueError as error:
                raise Refusal(problems.malformed(str(error))) from None
            if path_id is not None and path_id != message.id:
                raise Refusal(problems.id_mismatch())
            tenant = local_tenant(self.settings, message.yuirecipient)
            if tenant is None:
                raise Refusal(problems.wrong_recipient())
            async with self.sessionmaker() as session, session.begin():
                outcome = await self._receive(session, tenant, message, body, signature, via=via, fresh=fresh)
            if self.settings.crash_after_commit_of == str(message.id):
                # Fault injection for the crash tests only (off unless set): committed, never answered.
                os._exit(70)
            return outcome
        except Refusal as refusal:
            await self._audit_refusal(
                tenant=tenant, message=message, signature=signature, problem=refusal.problem, via=via
            )
            return Outcome(refusal.problem.status, problem_body(refusal.problem))

    async def _receive(
        self,
        session: AsyncSession,
        tenant: str,
        message: FederationMessage,
        body: bytes,
        signature: str | None,
        *,
        via: str,
        fresh: bool,
    ) -> Outcome:
        if await _is_closed_network(session, tenant):
            raise Refusal(problems.wrong_recipient())
        agreement = await agreements.get(session, tenant, message.yuiagreement)
        if agreement is not None and agreement.peer_source != message.source:
            agreement = None  # an agreement id of another peer: this sender holds no agreement of that id
        if agreement is not None:
            base_url, ca_pem = agreement.peer_base_url, agreement.peer_ca_pem
        elif message.type == envelope.AGREEMENT_PROPOSED:
            # A proposal is the one message from a network we hold no agreement with: its keys are read where it
            # says its deployment is, which must be where its source points.
            base_url = str(message.data.get("home_base_url") or "").rstrip("/")
            ca_pem = message.data.get("home_ca_pem") or None
            if not base_url or not message.source.startswith(f"{base_url}/networks/"):
                raise Refusal(problems.malformed("the proposal's home_base_url is not where its source is"))
        else:
            raise Refusal(problems.unknown_peer())
        header = await verified_key(
            self.peer_keys, base_url=base_url, ca_pem=ca_pem, signature=signature, body=body
        )
        now = datetime.now(UTC)
        skew = timedelta(seconds=self.settings.clock_skew_s)
        if message.time > now + skew or (
            fresh and abs(now.timestamp() - header["iat"]) > skew.total_seconds()
        ):
            raise Refusal(problems.clock_skew())

        first = await session.get(ReceivedMessage, (message.source, message.id))
        if first is not None:
            await audit.record(
                session,
                tenant=tenant,
                actor_id=f"peer:{message.source}",
                action="federation.message.replayed",
                target=f"message:{message.id}",
                detail={
                    "type": message.type,
                    "sequence": message.yuisequence,
                    "first_status": first.status,
                    "via": via,
                    "signature": signature,
                },
            )
            return Outcome(200, {"status": "replayed", "first_outcome": first.outcome})

        cursor = await self._cursor(session, tenant, message.source)
        sequence = message.yuisequence
        record = ReceivedMessage(
            source=message.source,
            id=message.id,
            tenant=tenant,
            agreement_id=message.yuiagreement,
            sequence=sequence,
            type=message.type,
            body=body.decode(),
            signature=signature or "",
            status=PENDING,
            outcome={},
            received_at=now,
        )
        session.add(record)
        if sequence <= cursor.applied_through:
            outcome = Outcome(200, {"status": DUPLICATE, "sequence": sequence})
            record.status, record.outcome = DUPLICATE, outcome.body
        elif sequence > cursor.applied_through + 1:
            outcome = Outcome(
                202,
                {"status": PENDING, "sequence": sequence, "applied_through": cursor.applied_through},
                gap_after=cursor.applied_through,
            )
            record.outcome = outcome.body
        else:
            outcome = await self._apply(session, tenant, message, record, base_url=base_url, ca_pem=ca_pem)
            cursor.applied_through = sequence
            await self._apply_waiting(session, tenant, message.source, cursor)
        await session.flush()
        await audit.record(
            session,
            tenant=tenant,
            actor_id=f"peer:{message.source}",
            action="federation.message.received",
            target=f"message:{message.id}",
            detail={
                "type": message.type,
                "agreement": str(message.yuiagreement),
                "sequence": sequence,
                "status": record.status,
                "via": via,
                "signature": signature,
            },
        )
        return outcome

    async def _cursor(self, session: AsyncSession, tenant: str, source: str) -> ReceiveCursor:
        """The pair's cursor, locked until the transaction ends: one pair's messages apply one at a time."""
        await session.execute(
            sa.text(
                "INSERT INTO receive_cursors (tenant, source, applied_through) VALUES (:t, :s, 0) "
                "ON CONFLICT DO NOTHING"
            ),
            {"t": tenant, "s": source},
        )
        cursor = (
            await session.scalars(
                sa.select(ReceiveCursor)
                .where(ReceiveCursor.tenant == tenant, ReceiveCursor.source == source)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).one()
        return cursor

    async def _apply_waiting(
        self, session: AsyncSession, tenant: str, source: str, cursor: ReceiveCursor
    ) -> None:
        """Apply the stored messages that the cursor has now reached, in order."""
        while True:
            waiting = (
                await session.scalars(
                    sa.select(ReceivedMessage).where(
                        ReceivedMessage.tenant == tenant,
                        ReceivedMessage.source == source,
                        ReceivedMessage.status == PENDING,
                        ReceivedMessage.sequence == cursor.applied_through + 1,
                    )
                )
            ).first()
            if waiting is None:
                return
            message = envelope.parse_body(waiting.body.encode())
            agreement = await agreements.get(session, tenant, message.yuiagreement)
            await self._apply(
                session,
                tenant,
                message,
                waiting,
                base_url=agreement.peer_base_url if agreement else "",
                ca_pem=agreement.peer_ca_pem if agreement else None,
            )
            cursor.applied_through = waiting.sequence

    async def _apply(
        self,
        session: AsyncSession,
        tenant: str,
        message: FederationMessage,
        record: ReceivedMessage,
        *,
        base_url: str,
        ca_pem: str | None,
    ) -> Outcome:
        """The message's effect, as the agreement allows it now. A refusal here is recorded (sequence used)."""
        await session.flush()
        try:
            # A savepoint: a refusal met halfway leaves nothing of the effect behind.
            async with session.begin_nested():
                await self._effect(session, tenant, message, base_url=base_url, ca_pem=ca_pem)
        except Refusal as refusal:
            outcome = Outcome(refusal.problem.status, problem_body(refusal.problem, sequence_consumed=True))
            record.status, record.outcome = REFUSED, outcome.body
            await audit.record(
                session,
                tenant=tenant,
                actor_id=f"peer:{message.source}",
                action="federation.message.refused",
                target=f"message:{message.id}",
                detail={
                    "reason": refusal.problem.slug,
                    "type": message.type,
                    "sequence": message.yuisequence,
                    "signature": record.signature,
                },
            )
            return outcome
        outcome = Outcome(200, {"status": APPLIED, "sequence": message.yuisequence})
        record.status, record.outcome, record.applied_at = APPLIED, outcome.body, datetime.now(UTC)
        return outcome

    async def _effect(
        self,
        session: AsyncSession,
        tenant: str,
        message: FederationMessage,
        *,
        base_url: str,
        ca_pem: str | None,
    ) -> None:
        agreement = await agreements.get(session, tenant, message.yuiagreement, for_update=True)
        if agreement is not None and agreement.peer_source != message.source:
            raise Refusal(problems.unknown_peer())
        handler = _AGREEMENT_STEPS.get(message.type)
        if handler is not None:
            await handler(session, tenant, message, agreement, base_url, ca_pem)
            return
        if agreement is None:
            raise Refusal(problems.unknown_peer())
        if message.type not in envelope.PROTECTIVE_TYPES:
            if agreement.state != ACCEPTED:
                raise Refusal(problems.not_in_force(agreement.state))
            agreed = envelope.IMPLIED_TYPES.get(message.type, message.type)
            if agreed not in agreement.event_types:
                raise Refusal(problems.type_not_allowed(message.type))
        effect = _EFFECTS.get(message.type) or referral_effects.EFFECTS.get(message.type)
        if effect is None:
            raise Refusal(problems.type_not_allowed(message.type))
        await effect(session, tenant, message, agreement, self.settings)


AgreementStep = Callable[
    [AsyncSession, str, FederationMessage, Agreement | None, str, str | None], Coroutine[Any, Any, None]
]


async def _proposed(
    session: AsyncSession,
    tenant: str,
    message: FederationMessage,
    agreement: Agreement | None,
    base_url: str,
    ca_pem: str | None,
) -> None:
    if agreement is not None:
        raise Refusal(problems.agreement_state("This agreement was proposed already."))
    data = message.data
    try:
        professions = {str(k): [str(c) for c in v] for k, v in dict(data.get("professions") or {}).items()}
        agreement = Agreement(
            tenant=tenant,
            id=message.yuiagreement,
            side=PEER,
            state=PROPOSED,
            peer_source=message.source,
            peer_base_url=base_url,
            peer_ca_pem=ca_pem or "",
            event_types=[str(t) for t in data.get("event_types") or []],
            professions=professions,
            cache_limit_hours=int(data.get("cache_limit_hours") or 0),
            governing_terms=str(data.get("governing_terms") or message.source),
            link_secret=None,
            created_at=datetime.now(UTC),
            state_changed_at=datetime.now(UTC),
        )
    except (TypeError, ValueError):
        raise Refusal(problems.malformed("the proposal's terms are unreadable")) from None
    session.add(agreement)
    await session.flush()


def _step(starts: tuple[str, ...], target: str, *, side: str | None = None) -> AgreementStep:
    async def step(
        session: AsyncSession,
        tenant: str,
        message: FederationMessage,
        agreement: Agreement | None,
        base_url: str,
        ca_pem: str | None,
    ) -> None:
        if agreement is None:
            raise Refusal(problems.unknown_peer())
        if side is not None and agreement.side != side:
            raise Refusal(
                problems.agreement_state("Only the network an agreement was proposed to accepts it.")
            )
        if agreement.state not in starts:
            raise Refusal(problems.agreement_state(f"The agreement is {agreement.state} here."))
        agreement.state, agreement.state_changed_at = target, datetime.now(UTC)
        await session.flush()
        if target == ENDED:
            await referral_effects.end_referrals_of(session, agreement)

    return step


_AGREEMENT_STEPS: dict[str, AgreementStep] = {
    envelope.AGREEMENT_PROPOSED: _proposed,
    # The acceptance comes from the peer side to the home (proposing) side.
    envelope.AGREEMENT_ACCEPTED: _step((PROPOSED,), ACCEPTED, side=HOME),
    envelope.AGREEMENT_SUSPENDED: _step((ACCEPTED,), SUSPENDED),
    envelope.AGREEMENT_RESUMED: _step((SUSPENDED,), ACCEPTED),
    envelope.AGREEMENT_ENDED: _step((PROPOSED, ACCEPTED, SUSPENDED), ENDED),
}


async def _audit_head(
    session: AsyncSession, tenant: str, message: FederationMessage, agreement: Agreement, settings: Settings
) -> None:
    seal_number = message.data.get("seal_number")
    head = message.data.get("head")
    if (seal_number is not None and not isinstance(seal_number, int)) or (
        head is not None and not isinstance(head, str)
    ):
        raise Refusal(problems.malformed("an audit head is a seal number and a hex head"))
    session.add(
        PeerAuditHead(
            tenant=tenant,
            source=message.source,
            message_id=message.id,
            seal_number=seal_number,
            head=head,
            received_at=datetime.now(UTC),
        )
    )
    await session.flush()


_EFFECTS = {envelope.AUDIT_HEAD: _audit_head}
