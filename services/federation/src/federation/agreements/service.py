"""Agreement use cases: an operator proposes, the peer's operator accepts, either suspends, resumes or ends.
Each step changes this side and stages the signed message that changes the peer's side. Never commits."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import audit
from yui_common.auth import Principal
from yui_common.problems import Problem, not_found

from federation.agreements import repository
from federation.agreements.schemas import (
    ACCEPTED,
    ENDED,
    HOME,
    PEER,
    PROPOSED,
    SUSPENDED,
    AgreementAccept,
    AgreementCreate,
    AgreementRead,
)
from federation.messages import envelope, sending
from federation.models import Agreement
from federation.problems import agreement_state, forbidden
from federation.referrals.effects import end_referrals_of
from federation.settings import Settings

OPERATOR = "operator"
OPERATORS_ONLY = "Only the network's operator may make or change its agreements with other networks."
# A step, the states it may start from, where it leads, and the message that tells the peer.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "accept": ((PROPOSED,), ACCEPTED, envelope.AGREEMENT_ACCEPTED),
    "suspend": ((ACCEPTED,), SUSPENDED, envelope.AGREEMENT_SUSPENDED),
    "resume": ((SUSPENDED,), ACCEPTED, envelope.AGREEMENT_RESUMED),
    "end": ((PROPOSED, ACCEPTED, SUSPENDED), ENDED, envelope.AGREEMENT_ENDED),
}


def ca_certificate(pem: str) -> x509.Certificate:
    """The pinned CA: one PEM certificate that says it is a CA. Problem 422 otherwise."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (ValueError, x509.ExtensionNotFound):
        raise Problem(
            422, "federation-ca-invalid", "Not a CA certificate", "peer_ca_pem must be a PEM CA certificate."
        ) from None
    if not constraints.ca:
        raise Problem(422, "federation-ca-invalid", "Not a CA certificate", "The certificate is not a CA's.")
    return certificate


def ca_fingerprint(pem: str) -> str | None:
    if not pem:
        return None
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def read(agreement: Agreement, settings: Settings) -> AgreementRead:
    return AgreementRead(
        id=agreement.id,
        network_source=settings.network_source(agreement.tenant),
        side=agreement.side,  # type: ignore[arg-type]
        state=agreement.state,  # type: ignore[arg-type]
        peer_source=agreement.peer_source,
        peer_base_url=agreement.peer_base_url,
        peer_ca_sha256=ca_fingerprint(agreement.peer_ca_pem),
        event_types=list(agreement.event_types),
        professions={k: list(v) for k, v in agreement.professions.items()},
        cache_limit_hours=agreement.cache_limit_hours,
        governing_terms=agreement.governing_terms,
        created_at=agreement.created_at,
        state_changed_at=agreement.state_changed_at,
    )


async def _refused(
    session: AsyncSession, principal: Principal, action: str, target: str | None = None
) -> Problem:
    """Returned, not raised, so the attempt's audit entry commits."""
    await audit.record_by(
        session,
        principal,
        action=f"federation.agreement.{action}-refused",
        target=target,
        detail={"reason": "not-operator"},
    )
    return forbidden(OPERATORS_ONLY)


def own_ca_pem(settings: Settings) -> str | None:
    return Path(settings.ca_cert_file).read_text() if settings.ca_cert_file else None


def terms(agreement: Agreement) -> dict[str, Any]:
    """What the peer records of an agreement: the same terms on both sides."""
    return {
        "event_types": list(agreement.event_types),
        "professions": {k: list(v) for k, v in agreement.professions.items()},
        "cache_limit_hours": agreement.cache_limit_hours,
        "governing_terms": agreement.governing_terms,
    }


async def list_agreements(
    session: AsyncSession, settings: Settings, *, principal: Principal
) -> list[AgreementRead] | Problem:
    if not principal.has_role(OPERATOR):
        return await _refused(session, principal, "list")
    found = await repository.of_network(session, principal.tenant)
    await audit.record_by(
        session, principal, action="federation.agreement.listed", detail={"count": len(found)}
    )
    return [read(a, settings) for a in found]


async def get_agreement(
    session: AsyncSession, settings: Settings, *, principal: Principal, agreement_id: UUID
) -> AgreementRead | Problem:
    if not principal.has_role(OPERATOR):
        return await _refused(session, principal, "read", f"agreement:{agreement_id}")
    agreement = await repository.get(session, principal.tenant, agreement_id)
    if agreement is None:
        raise not_found("agreement")
    await audit.record_by(
        session, principal, action="federation.agreement.read", target=f"agreement:{agreement_id}"
    )
    return read(agreement, settings)


async def propose(
    session: AsyncSession, settings: Settings, *, principal: Principal, proposal: AgreementCreate
) -> AgreementRead | Problem:
    """This network proposes a peering; its terms govern. Nothing crosses but agreement messages until the
    peer's operator accepts."""
    if not principal.has_role(OPERATOR):
        return await _refused(session, principal, "proposal")
    ca_certificate(proposal.peer_ca_pem)
    base = proposal.peer_base_url.rstrip("/")
    if not proposal.peer_source.startswith(
        f"{base}/networks/"
    ) or proposal.peer_source == settings.network_source(principal.tenant):
        raise Problem(
            422,
            "federation-peer-source-invalid",
            "Peer network source invalid",
            "peer_source must be another network at the peer's base URL: <peer_base_url>/networks/<network>.",
        )
    now = datetime.now(UTC)
    agreement = Agreement(
        tenant=principal.tenant,
        id=uuid7(),
        side=HOME,
        state=PROPOSED,
        peer_source=proposal.peer_source,
        peer_base_url=base,
        peer_ca_pem=proposal.peer_ca_pem,
        event_types=sorted(set(proposal.event_types)),
        professions={k: sorted(set(v)) for k, v in proposal.professions.items()},
        cache_limit_hours=proposal.cache_limit_hours,
        governing_terms=settings.network_source(principal.tenant),
        link_secret=secrets.token_hex(32),
        created_at=now,
        state_changed_at=now,
    )
    session.add(agreement)
    await session.flush()
    await audit.record_by(
        session,
        principal,
        action="federation.agreement.proposed",
        target=f"agreement:{agreement.id}",
        detail={
            "peer": agreement.peer_source,
            "ca_sha256": ca_fingerprint(agreement.peer_ca_pem),
            **terms(agreement),
        },
    )
    await sending.stage(
        session,
        settings,
        agreement=agreement,
        event_type=envelope.AGREEMENT_PROPOSED,
        data={
            "home_base_url": settings.federation_base_url,
            "home_ca_pem": own_ca_pem(settings),
            **terms(agreement),
        },
    )
    return read(agreement, settings)


async def change_state(
    session: AsyncSession,
    settings: Settings,
    *,
    principal: Principal,
    agreement_id: UUID,
    step: str,
    accept: AgreementAccept | None = None,
) -> AgreementRead | Problem:
    """accept (the peer side only), suspend, resume or end; the peer hears of it through a signed message."""
    if not principal.has_role(OPERATOR):
        return await _refused(session, principal, step, f"agreement:{agreement_id}")
    agreement = await repository.get(session, principal.tenant, agreement_id, for_update=True)
    if agreement is None:
        raise not_found("agreement")
    starts, target_state, message_type = TRANSITIONS[step]
    if agreement.state not in starts:
        raise agreement_state(f"An agreement that is {agreement.state} cannot be {target_state} now.")
    if step == "accept":
        if agreement.side != PEER:
            raise agreement_state("Only the network the agreement was proposed to accepts it.")
        offered = accept.peer_ca_pem if accept else None
        if offered:
            ca_certificate(offered)
            if agreement.peer_ca_pem and ca_fingerprint(offered) != ca_fingerprint(agreement.peer_ca_pem):
                raise agreement_state("The CA certificate given is not the one the proposal carried.")
            agreement.peer_ca_pem = offered
        if not agreement.peer_ca_pem:
            raise Problem(
                422,
                "federation-ca-invalid",
                "CA certificate needed",
                "The proposal carried no CA certificate: give the proposer's CA as peer_ca_pem.",
            )
    previous = agreement.state
    agreement.state, agreement.state_changed_at = target_state, datetime.now(UTC)
    await session.flush()
    if target_state == ENDED:
        await end_referrals_of(session, agreement)
    await audit.record_by(
        session,
        principal,
        action=f"federation.agreement.{target_state}",
        target=f"agreement:{agreement.id}",
        detail={
            "peer": agreement.peer_source,
            "from": previous,
            "ca_sha256": ca_fingerprint(agreement.peer_ca_pem),
        },
    )
    await sending.stage(
        session, settings, agreement=agreement, event_type=message_type, data={"state": target_state}
    )
    return read(agreement, settings)


async def send_audit_head(
    session: AsyncSession, settings: Settings, *, principal: Principal, agreement_id: UUID
) -> AgreementRead | Problem:
    """Tell the peer this service's newest audit seal head, so its log vouches for ours (issue 12, item 6)."""
    if not principal.has_role(OPERATOR):
        return await _refused(session, principal, "audit-head", f"agreement:{agreement_id}")
    agreement = await repository.get(session, principal.tenant, agreement_id)
    if agreement is None:
        raise not_found("agreement")
    if agreement.state != ACCEPTED:
        raise agreement_state(f"Nothing crosses while the agreement is {agreement.state}.")
    if envelope.AUDIT_HEAD not in agreement.event_types:
        raise agreement_state("The agreement does not let audit heads cross.")
    seal = await repository.newest_seal(session)
    data = {"seal_number": seal[0], "head": seal[1]} if seal else {"seal_number": None, "head": None}
    await audit.record_by(
        session,
        principal,
        action="federation.audit-head.sent",
        target=f"agreement:{agreement.id}",
        detail=data,
    )
    await sending.stage(session, settings, agreement=agreement, event_type=envelope.AUDIT_HEAD, data=data)
    return read(agreement, settings)
