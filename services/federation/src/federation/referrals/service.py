"""Referral use cases.

Home side (the subject's network): a member of the subject's care team sees which agreements and peer facilities
the subject may be referred to, refers (purpose, period, categories, the consent that covers it), lists and ends
referrals. Peer side: staff of the referred facility whose profession the agreement lets see the referral's
categories see "shared from <network>", read the timeline fetched from home on demand (home checks everything at
every fetch: protocol.py), and post, which lands at home. Everything else gets the one 404. Never commits.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import audit
from yui_common.auth import Principal
from yui_common.problems import Problem, not_found
from yui_common.vocabulary import POST_CATEGORIES
from yui_common.web import today_in_japan

from federation import problems
from federation.agreements.schemas import ACCEPTED, HOME, PEER
from federation.keys import service as keys
from federation.messages import envelope, sending
from federation.messages.peers import PeerClients
from federation.models import Agreement, CareTeamMember, Person, Referral, SubjectState
from federation.referrals import assertions
from federation.referrals.effects import ACTIVE, ENDED, purge
from federation.referrals.schemas import (
    Facility,
    PersonLabel,
    ReferralCreate,
    ReferralOption,
    ReferralRead,
    SharedPost,
    SharedPostCreate,
    SharedTimeline,
)
from federation.settings import Settings

DIRECTORY_PATH = "/federation/v1/directory"
# The cache is rewritten when what home answered changed, or at least this often (its age is what the agreement's
# limit is held against).
CACHE_REFRESH = timedelta(minutes=1)
_directories: dict[UUID, tuple[float, str, list[Facility]]] = {}
_unreachable: dict[UUID, float] = {}
UNREACHABLE_FOR_S = 60.0


def read(referral: Referral) -> ReferralRead:
    return ReferralRead(
        id=referral.id,
        side=referral.side,  # type: ignore[arg-type]
        state=referral.state,  # type: ignore[arg-type]
        subject_name=referral.subject_name,
        subject_name_kana=referral.subject_name_kana,
        home_network_name=referral.home_network_name,
        peer_network_name=referral.peer_network_name,
        facility_name=referral.facility_name,
        purpose=referral.purpose,
        starts_on=referral.starts_on,
        ends_on=referral.ends_on,
        categories=list(referral.categories),
        consent_basis=referral.consent_basis,
        referred_by=PersonLabel(**referral.referred_by),
        created_at=referral.created_at,
        ended_at=referral.ended_at,
        withdrawn_at=referral.withdrawn_at,
        acknowledged_at=referral.acknowledged_at,
        acknowledgement=referral.acknowledgement if referral.side == HOME else None,
    )


async def network_name(session: AsyncSession, tenant: str) -> str:
    name = await session.scalar(sa.text("SELECT name FROM network_states WHERE tenant = :t"), {"t": tenant})
    return str(name or tenant)


async def _person(session: AsyncSession, principal: Principal) -> Person | None:
    person = await session.get(Person, principal.user_id)
    return (
        person
        if person is not None and person.tenant == principal.tenant and person.status == "active"
        else None
    )


async def _on_team(session: AsyncSession, principal: Principal, subject_id: UUID) -> SubjectState:
    """The subject, when it is of the caller's network, consent stands, and the caller is on its care team."""
    subject = await session.get(SubjectState, subject_id)
    member = await session.get(CareTeamMember, (subject_id, principal.user_id))
    if subject is None or subject.tenant != principal.tenant or member is None:
        raise not_found("subject")
    if not subject.consent_active:
        raise Problem(
            409, "consent-required", "Consent required", "A subject is referred only under an active consent."
        )
    return subject


def _shareable(agreement: Agreement) -> list[str]:
    """Every post category some profession of the peer may see under the agreement. (An agreement may also name
    the record's sections, vitals, summary and medications; a referral shares the timeline's posts only.)"""
    return sorted(
        {c for categories in agreement.professions.values() for c in categories if c in POST_CATEGORIES}
    )


async def _referring_agreements(session: AsyncSession, tenant: str) -> list[Agreement]:
    found = await session.scalars(
        sa.select(Agreement)
        .where(Agreement.tenant == tenant, Agreement.side == HOME, Agreement.state == ACCEPTED)
        .order_by(Agreement.created_at)
    )
    return [a for a in found if envelope.REFERRAL in a.event_types]


async def peer_directory(
    session: AsyncSession, settings: Settings, clients: PeerClients, agreement: Agreement
) -> tuple[str, list[Facility]]:
    """The peer network's name and facilities, asked of the peer with a signed request and kept a few minutes."""
    cached = _directories.get(agreement.id)
    if cached and time.monotonic() - cached[0] < settings.directory_cache_s:
        return cached[1], cached[2]
    failed = _unreachable.get(agreement.id)
    if failed and time.monotonic() - failed < UNREACHABLE_FOR_S:
        # A peer that just failed is not asked again on every page view (each would wait for the timeout).
        raise ValueError("the peer was unreachable a moment ago")
    proof = envelope.pull_proof(
        await keys.active_key(session, settings),
        puller=settings.network_source(agreement.tenant),
        sender=agreement.peer_source,
        after=0,
    )
    try:
        async with clients.client(agreement.peer_base_url, agreement.peer_ca_pem or None) as client:
            response = await client.get(DIRECTORY_PATH, headers={envelope.SIGNATURE_HEADER: proof})
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError):
        _unreachable[agreement.id] = time.monotonic()
        raise
    _unreachable.pop(agreement.id, None)
    facilities = [Facility.model_validate(f) for f in document.get("facilities") or []]
    name = str(document.get("network_name") or agreement.peer_source)
    _directories[agreement.id] = (time.monotonic(), name, facilities)
    return name, facilities


async def directory_of(session: AsyncSession, tenant: str) -> dict[str, Any]:
    """What this network tells a peer it has an agreement with: its name and facilities (no people)."""
    rows = await session.execute(
        sa.select(Person.facility_id, sa.func.min(Person.facility_name))
        .where(Person.tenant == tenant, Person.status == "active")
        .group_by(Person.facility_id)
        .order_by(sa.func.min(Person.facility_name))
    )
    return {
        "network_name": await network_name(session, tenant),
        "facilities": [{"id": str(fid), "name": name} for fid, name in rows],
    }


async def options(
    session: AsyncSession, settings: Settings, clients: PeerClients, *, principal: Principal, subject_id: UUID
) -> list[ReferralOption]:
    await _on_team(session, principal, subject_id)
    found: list[ReferralOption] = []
    for agreement in await _referring_agreements(session, principal.tenant):
        try:
            name, facilities = await peer_directory(session, settings, clients, agreement)
            found.append(
                ReferralOption(
                    agreement_id=agreement.id,
                    peer_network_name=name,
                    facilities=facilities,
                    categories=_shareable(agreement),
                )
            )
        except (httpx.HTTPError, ValueError):
            found.append(
                ReferralOption(
                    agreement_id=agreement.id,
                    peer_network_name=agreement.peer_source,
                    facilities=[],
                    categories=_shareable(agreement),
                    reachable=False,
                )
            )
    await audit.record_by(
        session, principal, action="federation.referral.options", subject_id=str(subject_id), detail={}
    )
    return found


async def create(
    session: AsyncSession,
    settings: Settings,
    clients: PeerClients,
    *,
    principal: Principal,
    payload: ReferralCreate,
) -> ReferralRead:
    subject = await _on_team(session, principal, payload.subject_id)
    agreement = next(
        (a for a in await _referring_agreements(session, principal.tenant) if a.id == payload.agreement_id),
        None,
    )
    if agreement is None:
        raise not_found("agreement")
    if payload.ends_on < payload.starts_on or payload.ends_on < today_in_japan():
        raise Problem(422, "referral-period-invalid", "Period invalid", "The period must end today or later.")
    outside = sorted(set(payload.categories) - set(_shareable(agreement)))
    if outside:
        raise Problem(
            422,
            "referral-category-not-agreed",
            "Category not agreed",
            f"The agreement lets none of the peer's professions see: {', '.join(outside)}.",
        )
    try:
        peer_name, facilities = await peer_directory(session, settings, clients, agreement)
    except (httpx.HTTPError, ValueError):
        raise problems.peer_unreachable("The peer network's facilities could not be fetched.") from None
    facility = next((f for f in facilities if f.id == payload.facility_id), None)
    if facility is None:
        raise Problem(
            422, "referral-facility-unknown", "Facility unknown", "The peer network has no such facility."
        )
    me = await _person(session, principal)
    referred_by = {
        "name": me.name if me else principal.name,
        "profession": me.profession if me else "other",
        "facility_name": me.facility_name if me else "",
    }
    home_name = await network_name(session, principal.tenant)
    link = (
        envelope.subject_link(agreement.link_secret or "", subject.subject_id)
        if agreement.link_secret
        else ""
    )
    referral = Referral(
        tenant=principal.tenant,
        id=uuid7(),
        side=HOME,
        agreement_id=agreement.id,
        peer_source=agreement.peer_source,
        subject_id=subject.subject_id,
        subject_link=link,
        subject_name=subject.name,
        subject_name_kana=subject.name_kana,
        home_network_name=home_name,
        peer_network_name=peer_name,
        facility_id=facility.id,
        facility_name=facility.name,
        purpose=payload.purpose,
        starts_on=payload.starts_on,
        ends_on=payload.ends_on,
        categories=sorted(set(payload.categories)),
        consent_basis=payload.consent_basis,
        consent_version=max(1, subject.consent_version),
        referred_by=referred_by,
        referred_by_id=principal.user_id,
        state=ACTIVE,
        created_at=datetime.now(UTC),
    )
    session.add(referral)
    await session.flush()
    await sending.stage(
        session,
        settings,
        agreement=agreement,
        event_type=envelope.REFERRAL,
        data={
            "referral_id": str(referral.id),
            "subject": {"name": subject.name, "name_kana": subject.name_kana},
            "home_network_name": home_name,
            "peer_network_name": peer_name,
            "facility_id": str(facility.id),
            "facility_name": facility.name,
            "purpose": payload.purpose,
            "starts_on": payload.starts_on.isoformat(),
            "ends_on": payload.ends_on.isoformat(),
            "categories": referral.categories,
            "consent_basis": payload.consent_basis,
            "referred_by": referred_by,
        },
        subject_id=subject.subject_id,
        consent_version=referral.consent_version,
    )
    await audit.record_by(
        session,
        principal,
        action="federation.referral.created",
        subject_id=str(subject.subject_id),
        target=f"referral:{referral.id}",
        detail={"peer": agreement.peer_source, "facility": facility.name, "categories": referral.categories},
    )
    return read(referral)


async def of_subject(session: AsyncSession, *, principal: Principal, subject_id: UUID) -> list[ReferralRead]:
    subject = await session.get(SubjectState, subject_id)
    member = await session.get(CareTeamMember, (subject_id, principal.user_id))
    if (
        subject is None
        or subject.tenant != principal.tenant
        or (member is None and not principal.has_role("operator"))
    ):
        raise not_found("subject")
    found = await session.scalars(
        sa.select(Referral)
        .where(Referral.tenant == principal.tenant, Referral.side == HOME, Referral.subject_id == subject_id)
        .order_by(Referral.created_at.desc())
    )
    referrals = [read(r) for r in found]
    await audit.record_by(
        session, principal, action="federation.referral.listed", subject_id=str(subject_id), detail={}
    )
    return referrals


async def end(
    session: AsyncSession, settings: Settings, *, principal: Principal, referral_id: UUID
) -> ReferralRead:
    referral = await session.get(Referral, (principal.tenant, referral_id), with_for_update=True)
    if referral is None or referral.side != HOME or referral.subject_id is None:
        raise not_found("referral")
    await _on_team(session, principal, referral.subject_id)
    if referral.state != ACTIVE:
        raise Problem(409, "referral-not-active", "Referral not active", "The referral has ended already.")
    referral.state, referral.ended_at = ENDED, datetime.now(UTC)
    agreement = await session.get(Agreement, (principal.tenant, referral.agreement_id))
    if agreement is not None:
        await sending.stage(
            session,
            settings,
            agreement=agreement,
            event_type=envelope.REFERRAL_ENDED,
            data={"referral_id": str(referral.id)},
            subject_id=referral.subject_id,
        )
    await audit.record_by(
        session,
        principal,
        action="federation.referral.ended",
        subject_id=str(referral.subject_id),
        target=f"referral:{referral.id}",
        detail={},
    )
    return read(referral)


# --- the peer side -----------------------------------------------------------------------------------------------


async def _mine(
    session: AsyncSession, principal: Principal, referral_id: UUID
) -> tuple[Referral, Agreement, Person, list[str]]:
    """The referral when the caller may see it: staff of the referred facility whose profession the agreement
    lets see some of the referral's categories, while it is active and in its period. The one 404 otherwise."""
    referral = await session.get(Referral, (principal.tenant, referral_id))
    person = await _person(session, principal)
    if referral is None or referral.side != PEER or person is None:
        raise not_found("referral")
    agreement = await session.get(Agreement, (principal.tenant, referral.agreement_id))
    allowed = _allowed(referral, agreement, person, principal.facility_id)
    # A suspended or ended agreement shares nothing, its cache included.
    if agreement is None or agreement.state != ACCEPTED or not allowed:
        raise not_found("referral")
    if referral.state != ACTIVE:
        raise _withdrawn() if referral.state == "withdrawn" else not_found("referral")
    return referral, agreement, person, allowed


def _allowed(
    referral: Referral, agreement: Agreement | None, person: Person, facility_id: UUID | None
) -> list[str]:
    if agreement is None or facility_id != referral.facility_id or person.facility_id != referral.facility_id:
        return []
    today = today_in_japan()
    if not referral.starts_on <= today <= referral.ends_on:
        return []
    return sorted(set(referral.categories) & set(agreement.professions.get(person.profession, [])))


def _withdrawn() -> Problem:
    return Problem(
        410,
        "support-stopped",
        "Support stopped",
        "Consent was withdrawn at the subject's home network; nothing of the subject is shared any more.",
    )


async def shared_with_me(session: AsyncSession, *, principal: Principal) -> list[ReferralRead]:
    """Subjects other networks referred to the caller's facility that the caller's profession may see."""
    person = await _person(session, principal)
    if person is None or principal.facility_id is None:
        return []
    found = await session.scalars(
        sa.select(Referral)
        .where(
            Referral.tenant == principal.tenant,
            Referral.side == PEER,
            Referral.facility_id == principal.facility_id,
            Referral.state == ACTIVE,
        )
        .order_by(Referral.created_at.desc())
    )
    shown: list[ReferralRead] = []
    for referral in found:
        agreement = await session.get(Agreement, (principal.tenant, referral.agreement_id))
        if (
            agreement is not None
            and agreement.state == ACCEPTED
            and _allowed(referral, agreement, person, principal.facility_id)
        ):
            shown.append(read(referral))
    await audit.record_by(
        session, principal, action="federation.referral.shared-listed", detail={"count": len(shown)}
    )
    return shown


def _user_claims(person: Person) -> dict[str, Any]:
    return {
        "user_id": person.user_id,
        "name": person.name,
        "name_kana": person.name_kana,
        "profession": person.profession,
        "facility_id": person.facility_id,
        "facility_name": person.facility_name,
    }


async def _ask_home(
    session: AsyncSession,
    settings: Settings,
    clients: PeerClients,
    *,
    referral: Referral,
    agreement: Agreement,
    person: Person,
    method: str,
    path: str,
    body: bytes | None = None,
) -> httpx.Response:
    token = assertions.assertion(
        await keys.signing_key(session, settings),
        peer_source=settings.network_source(referral.tenant),
        home_source=agreement.peer_source,
        referral_id=referral.id,
        user=_user_claims(person),
        body=body,
    )
    headers = {assertions.ASSERTION_HEADER: token}
    if body is not None:
        headers["Content-Type"] = "application/json"
    client = clients.pooled(agreement.peer_base_url, agreement.peer_ca_pem or None)
    return await client.request(method, path, content=body, headers=headers)


async def _refused_by_home(
    session: AsyncSession, principal: Principal, referral: Referral, response: httpx.Response, what: str
) -> Problem:
    """Home refused a read or post: audited here, and a withdrawal (410) purges at once, before its order
    arrives. Returns the problem to answer with."""
    if response.status_code == 410:
        locked = await session.get(Referral, (referral.tenant, referral.id), with_for_update=True)
        await purge(session, locked or referral, "withdrawn")
    await audit.record_by(
        session,
        principal,
        action=f"federation.referral.{what}-refused-by-home",
        target=f"referral:{referral.id}",
        detail={"status": response.status_code},
    )
    return _home_refusal(response)


def _home_refusal(response: httpx.Response) -> Problem:
    if response.status_code == 410:
        return _withdrawn()
    if response.status_code in (401, 403, 404):
        return not_found("referral")
    try:
        detail = str(response.json().get("detail") or "")
    except ValueError:
        detail = ""
    return Problem(
        response.status_code if 400 <= response.status_code < 500 else 502,
        "federation-home-refused",
        "Refused by the home network",
        detail or f"The home network answered {response.status_code}.",
    )


async def fetch(
    session: AsyncSession,
    settings: Settings,
    clients: PeerClients,
    *,
    principal: Principal,
    referral_id: UUID,
) -> SharedTimeline:
    """The referred subject's timeline, fetched from home now (home checks and audits it too); when home cannot
    be reached, what was fetched last, within the agreement's cache limit."""
    try:
        referral, agreement, person, allowed = await _mine(session, principal, referral_id)
    except Problem:
        await audit.record_by(
            session,
            principal,
            action="federation.referral.fetch-refused",
            target=f"referral:{referral_id}",
            detail={},
        )
        raise
    now = datetime.now(UTC)
    try:
        response = await _ask_home(
            session,
            settings,
            clients,
            referral=referral,
            agreement=agreement,
            person=person,
            method="GET",
            path=f"/federation/v1/referrals/{referral.id}/timeline",
        )
    except httpx.HTTPError:
        response = None
    if response is None or response.status_code >= 500:
        limit = timedelta(hours=agreement.cache_limit_hours)
        if (
            referral.cached is not None
            and referral.cached_at is not None
            and now - referral.cached_at <= limit
        ):
            await audit.record_by(
                session,
                principal,
                action="federation.referral.read-cached",
                target=f"referral:{referral.id}",
                detail={"cached_at": referral.cached_at.isoformat()},
            )
            return _timeline(referral, referral.cached, allowed, from_cache=True, at=referral.cached_at)
        raise problems.peer_unreachable("The subject's home network cannot be reached just now.")
    if response.status_code != 200:
        raise await _refused_by_home(session, principal, referral, response, "fetch")
    try:
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("not an object")
    except ValueError:
        raise Problem(
            502, "federation-home-failed", "Home answered badly", "The home network's answer is unreadable."
        ) from None
    if agreement.cache_limit_hours > 0 and (
        referral.cached_at is None or now - referral.cached_at > CACHE_REFRESH or referral.cached != document
    ):
        # Only while the referral is still active: a purge that committed while home's answer was on its way
        # must not be undone (the row's lock orders the two).
        await session.execute(
            sa.update(Referral)
            .where(Referral.tenant == referral.tenant, Referral.id == referral.id, Referral.state == ACTIVE)
            .values(cached=document, cached_at=now)
        )
    await audit.record_by(
        session,
        principal,
        action="federation.referral.fetched",
        target=f"referral:{referral.id}",
        detail={"count": len(document.get("posts") or []), "home": agreement.peer_source},
    )
    return _timeline(referral, document, allowed, from_cache=False, at=now)


def _timeline(
    referral: Referral, document: dict[str, Any], allowed: list[str], *, from_cache: bool, at: datetime
) -> SharedTimeline:
    # Home already kept to the categories this user may see; a cache filled for a colleague of another
    # profession is filtered again here.
    posts = [
        SharedPost.model_validate(p) for p in document.get("posts") or [] if p.get("category") in allowed
    ]
    for post in posts:
        post.replies = [r for r in post.replies if r.category in allowed]
    return SharedTimeline(
        referral=read(referral), posts=posts, categories=allowed, from_cache=from_cache, fetched_at=at
    )


async def post(
    session: AsyncSession,
    settings: Settings,
    clients: PeerClients,
    *,
    principal: Principal,
    referral_id: UUID,
    payload: SharedPostCreate,
) -> SharedPost:
    """The peer user's post or reply on the referred subject's timeline: it lands at home, under home's terms."""
    try:
        referral, agreement, person, allowed = await _mine(session, principal, referral_id)
    except Problem:
        await audit.record_by(
            session,
            principal,
            action="federation.referral.post-refused",
            target=f"referral:{referral_id}",
            detail={},
        )
        raise
    if payload.category not in allowed:
        raise Problem(
            422, "category-not-shared", "Category not shared", "The referral does not share this category."
        )
    body = json.dumps(payload.model_dump(mode="json"), ensure_ascii=False).encode()
    try:
        response = await _ask_home(
            session,
            settings,
            clients,
            referral=referral,
            agreement=agreement,
            person=person,
            method="POST",
            path=f"/federation/v1/referrals/{referral.id}/posts",
            body=body,
        )
    except httpx.HTTPError:
        raise problems.peer_unreachable("The subject's home network cannot be reached just now.") from None
    if response.status_code != 201:
        raise await _refused_by_home(session, principal, referral, response, "post")
    try:
        created = SharedPost.model_validate(response.json())
    except ValueError:
        raise Problem(
            502, "federation-home-failed", "Home answered badly", "The home network's answer is unreadable."
        ) from None
    await audit.record_by(
        session,
        principal,
        action="federation.referral.posted",
        target=f"referral:{referral.id}",
        detail={"post": str(created.id), "home": agreement.peer_source},
    )
    return created
