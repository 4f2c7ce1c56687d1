"""What a referral's messages do where they arrive.

Peer side: a referral is recorded (the subject's name, what may be seen, for how long); its end or the subject's
withdrawal drops the referral's access and whatever was cached, and a withdrawal is answered with a signed
acknowledgement naming what was purged and this side's audit head. Home side: the acknowledgement is recorded
against the referral, and consent's cascade hears that this peer is done.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.events.federation import (
    FederationPeerWithdrawalV1,
    FederationSharedPostV1,
    FederationSharedPurgedV1,
)
from yui_common.web import today_in_japan

from federation import problems
from federation.agreements import repository as agreements
from federation.agreements.schemas import HOME, PEER
from federation.messages import envelope, sending
from federation.messages.envelope import FederationMessage
from federation.models import Agreement, Person, Referral
from federation.problems import Refusal
from federation.referrals.assertions import author_key, peer_user_id
from federation.settings import Settings

ACTIVE, ENDED, WITHDRAWN = "active", "ended", "withdrawn"


def _text(data: dict[str, Any], key: str, limit: int = 2000) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Refusal(problems.malformed(f"the referral's {key} is missing or too long"))
    return value


async def _referral(session: AsyncSession, tenant: str, data: dict[str, Any], side: str) -> Referral | None:
    try:
        referral_id = UUID(str(data.get("referral_id")))
    except ValueError:
        raise Refusal(problems.malformed("the message names no referral")) from None
    found = await session.get(Referral, (tenant, referral_id), with_for_update=True)
    return found if found is not None and found.side == side else None


async def on_referral(
    session: AsyncSession, tenant: str, message: FederationMessage, agreement: Agreement, settings: Settings
) -> None:
    """Home referred a subject to one of our facilities: record it (the agreement's terms bound it)."""
    if agreement.side != PEER:
        raise Refusal(problems.agreement_state("Only the home network of an agreement refers subjects."))
    data = message.data
    if message.yuisubjectlink is None or message.yuiconsentversion is None:
        raise Refusal(problems.malformed("a referral carries the subject link and the consent version"))
    subject = data.get("subject") or {}
    referred_by = data.get("referred_by") or {}
    try:
        referral_id = UUID(str(data.get("referral_id")))
        facility_id = UUID(str(data.get("facility_id")))
        starts_on, ends_on = (
            date.fromisoformat(str(data["starts_on"])),
            date.fromisoformat(str(data["ends_on"])),
        )
        categories = [str(c) for c in data.get("categories") or []]
    except (KeyError, TypeError, ValueError):
        raise Refusal(problems.malformed("the referral's terms are unreadable")) from None
    if await session.get(Referral, (tenant, referral_id)) is not None:
        raise Refusal(problems.agreement_state("This referral was recorded already."))
    session.add(
        Referral(
            tenant=tenant,
            id=referral_id,
            side=PEER,
            agreement_id=agreement.id,
            peer_source=agreement.peer_source,
            subject_id=None,
            subject_link=message.yuisubjectlink,
            subject_name=_text(subject, "name", 200),
            subject_name_kana=subject.get("name_kana") if isinstance(subject.get("name_kana"), str) else None,
            home_network_name=_text(data, "home_network_name", 200),
            peer_network_name=_text(data, "peer_network_name", 200),
            facility_id=facility_id,
            facility_name=_text(data, "facility_name", 200),
            purpose=_text(data, "purpose"),
            starts_on=starts_on,
            ends_on=ends_on,
            categories=categories,
            consent_basis=_text(data, "consent_basis", 16),
            consent_version=message.yuiconsentversion,
            referred_by={k: str(referred_by.get(k) or "") for k in ("name", "profession", "facility_name")},
            referred_by_id=None,
            state=ACTIVE,
            created_at=datetime.now(UTC),
        )
    )
    await session.flush()
    await audit.record(
        session,
        tenant=tenant,
        actor_id=f"peer:{message.source}",
        action="federation.referral.received",
        facility_id=str(facility_id),
        target=f"referral:{referral_id}",
        detail={"categories": categories, "starts_on": str(starts_on), "ends_on": str(ends_on)},
    )


async def purge(session: AsyncSession, referral: Referral, state: str) -> int:
    """Drop the referral's access, its cache and (through notify) the notifications about it; how many cached
    items went."""
    cached = len((referral.cached or {}).get("posts") or [])
    referral.state = state
    referral.cached, referral.cached_at = None, None
    referral.ended_at = referral.ended_at or datetime.now(UTC)
    await outbox.add_event(session, FederationSharedPurgedV1(referral_id=referral.id), tenant=referral.tenant)
    return cached


async def on_referral_ended(
    session: AsyncSession, tenant: str, message: FederationMessage, agreement: Agreement, settings: Settings
) -> None:
    referral = await _referral(session, tenant, message.data, PEER)
    if referral is None or referral.agreement_id != agreement.id:
        return  # nothing held here: nothing to end
    if referral.state == ACTIVE:
        purged = await purge(session, referral, ENDED)
        await audit.record(
            session,
            tenant=tenant,
            actor_id=f"peer:{message.source}",
            action="federation.referral.ended",
            target=f"referral:{referral.id}",
            detail={"purged": purged},
        )


async def on_consent_withdrawn(
    session: AsyncSession, tenant: str, message: FederationMessage, agreement: Agreement, settings: Settings
) -> None:
    """Home's subject withdrew consent: drop the referral and its cache at once, and answer with a signed
    acknowledgement (staged in this transaction: it leaves if and only if the purge commits)."""
    referral = await _referral(session, tenant, message.data, PEER)
    purged_posts = 0
    found = referral is not None and referral.agreement_id == agreement.id
    if found:
        assert referral is not None
        if referral.state != WITHDRAWN:
            purged_posts = await purge(session, referral, WITHDRAWN)
        try:
            referral.withdrawal_id = UUID(str(message.data.get("withdrawal_id")))
        except ValueError:
            raise Refusal(problems.malformed("the order names no withdrawal")) from None
        referral.withdrawn_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        tenant=tenant,
        actor_id=f"peer:{message.source}",
        action="federation.referral.purged",
        target=f"referral:{message.data.get('referral_id')}",
        detail={"cached_posts": purged_posts, "held": found, "withdrawal": message.data.get("withdrawal_id")},
    )
    seal = await agreements.newest_seal(session)
    await sending.stage(
        session,
        settings,
        agreement=agreement,
        event_type=envelope.WITHDRAWAL_ACKNOWLEDGED,
        data={
            "referral_id": message.data.get("referral_id"),
            "withdrawal_id": message.data.get("withdrawal_id"),
            "purged": {"referrals": 1 if found else 0, "cached_posts": purged_posts},
            "audit_head": {"seal_number": seal[0], "head": seal[1]} if seal else None,
            "acknowledged_at": datetime.now(UTC).isoformat(),
        },
    )


async def on_withdrawal_acknowledged(
    session: AsyncSession, tenant: str, message: FederationMessage, agreement: Agreement, settings: Settings
) -> None:
    """The peer purged what it held of a withdrawn subject: the referral records it (with the peer's audit head,
    so our log vouches for theirs), and consent's cascade marks the peer done."""
    referral = await _referral(session, tenant, message.data, HOME)
    if referral is None or referral.agreement_id != agreement.id or referral.withdrawal_id is None:
        raise Refusal(problems.agreement_state("No withdrawal of that referral waits for acknowledgement."))
    if referral.acknowledged_at is not None:
        return
    now = datetime.now(UTC)
    referral.acknowledged_at = now
    referral.acknowledgement = {
        "message_id": str(message.id),
        "purged": message.data.get("purged"),
        "audit_head": message.data.get("audit_head"),
    }
    purged = message.data.get("purged") or {}
    items = sum(int(v) for v in purged.values() if isinstance(v, int)) if isinstance(purged, dict) else 0
    await audit.record(
        session,
        tenant=tenant,
        actor_id=f"peer:{message.source}",
        action="federation.referral.withdrawal-acknowledged",
        subject_id=str(referral.subject_id),
        target=f"referral:{referral.id}",
        detail={"purged": purged, "audit_head": message.data.get("audit_head")},
    )
    assert referral.subject_id is not None
    await session.flush()  # the sessions do not autoflush: the count below must see this acknowledgement
    waiting = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Referral)
        .where(
            Referral.tenant == tenant,
            Referral.withdrawal_id == referral.withdrawal_id,
            Referral.peer_network_name == referral.peer_network_name,
            Referral.acknowledged_at.is_(None),
        )
    )
    if waiting:
        return  # the peer's row is done once every referral it held of the subject is acknowledged
    await outbox.add_event(
        session,
        FederationPeerWithdrawalV1(
            subject_id=referral.subject_id,
            withdrawal_id=referral.withdrawal_id,
            peer=referral.peer_network_name,
            done=True,
            items_affected=items,
            at=now,
        ),
        tenant=tenant,
        subject=str(referral.subject_id),
    )


async def on_shared_post(
    session: AsyncSession, tenant: str, message: FederationMessage, agreement: Agreement, settings: Settings
) -> None:
    """A new post on a subject home shared with us: the referral's staff who may see its category are told, as
    a care team is (notify). Nothing of the post is kept here but the notification's excerpt."""
    referral = await _referral(session, tenant, message.data, PEER)
    category = str(message.data.get("category") or "")
    if (
        referral is None
        or referral.agreement_id != agreement.id
        or referral.state != ACTIVE
        or not referral.starts_on <= today_in_japan() <= referral.ends_on
    ):
        return  # ended, withdrawn or outside its period: nobody is told
    professions = [p for p, categories in agreement.professions.items() if category in categories]
    author = str(message.data.get("author_key") or "")
    ours = settings.network_source(tenant)
    users = list(
        await session.scalars(
            sa.select(Person.user_id).where(
                Person.tenant == tenant,
                Person.facility_id == referral.facility_id,
                Person.status == "active",
                Person.profession.in_(professions),
            )
        )
    )
    # Not the author, when the post was one of ours (home names its author only by a key).
    users = [u for u in users if author_key(peer_user_id(ours, str(u))) != author]
    if not users or category not in referral.categories:
        return
    excerpt = message.data.get("excerpt")
    label = message.data.get("author") or {}
    await outbox.add_event(
        session,
        FederationSharedPostV1(
            referral_id=referral.id,
            user_ids=users,
            subject_name=referral.subject_name,
            home_network_name=referral.home_network_name,
            category=category,
            excerpt=str(excerpt)[:200] if isinstance(excerpt, str) else None,
            author_name=str(label.get("name") or "") or None,
            author_label=str(label.get("label") or "") or None,
        ),
        tenant=tenant,
    )


EFFECTS = {
    envelope.SHARED_POST: on_shared_post,
    envelope.REFERRAL: on_referral,
    envelope.REFERRAL_ENDED: on_referral_ended,
    envelope.CONSENT_WITHDRAWN: on_consent_withdrawn,
    envelope.WITHDRAWAL_ACKNOWLEDGED: on_withdrawal_acknowledged,
}


async def expire_caches(session: AsyncSession) -> int:
    """The peer side keeps what it fetched of a referred subject no longer than the agreement allows, and not
    past the referral's period: older caches are dropped (the worker's periodic job). Returns how many."""
    result = await session.execute(
        sa.text(
            "UPDATE referrals r SET cached = NULL, cached_at = NULL FROM agreements a "
            "WHERE r.side = 'peer' AND r.cached_at IS NOT NULL AND a.tenant = r.tenant AND a.id = r.agreement_id "
            "AND (r.state <> 'active' OR r.cached_at < now() - make_interval(hours => a.cache_limit_hours) "
            "OR r.ends_on < (now() AT TIME ZONE 'Asia/Tokyo')::date) RETURNING r.id"
        )
    )
    return len(result.all())


async def end_referrals_of(session: AsyncSession, agreement: Agreement) -> int:
    """An agreement ended (here or at the peer): nothing crosses under it any more, so its referrals end on this
    side, the peer side dropping its cache and notifications. Returns how many ended."""
    referrals = list(
        await session.scalars(
            sa.select(Referral)
            .where(
                Referral.tenant == agreement.tenant,
                Referral.agreement_id == agreement.id,
                Referral.state == ACTIVE,
            )
            .with_for_update()
        )
    )
    for referral in referrals:
        if referral.side == PEER:
            await purge(session, referral, ENDED)
        else:
            referral.state, referral.ended_at = ENDED, datetime.now(UTC)
    return len(referrals)
