"""Home side of a referral's notices: a new post on a referred subject, in a category the referral shares, is
told to each peer holding an active referral of it (a signed message), so the peer's permitted staff are
notified as the home care team is. The post itself is not sent: the peer reads it from home when it opens it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.events.timeline import PostCreatedV1
from yui_common.people import person_or_unknown, ref_of
from yui_common.web import today_in_japan

from federation.agreements.schemas import ACCEPTED, HOME
from federation.messages import envelope, sending
from federation.models import Agreement, Person, Referral
from federation.referrals.assertions import author_key
from federation.referrals.effects import ACTIVE
from federation.settings import Settings, current_settings


async def tell_peers(
    session: AsyncSession, *, tenant: str, post: PostCreatedV1, settings: Settings | None = None
) -> int:
    referrals = list(
        await session.scalars(
            sa.select(Referral).where(
                Referral.tenant == tenant,
                Referral.side == HOME,
                Referral.subject_id == post.subject_id,
                Referral.state == ACTIVE,
            )
        )
    )
    today = today_in_japan()
    shared = [r for r in referrals if post.category in r.categories and r.starts_on <= today <= r.ends_on]
    if not shared:
        return 0
    settings = settings or current_settings()
    person = await session.get(Person, post.author_id)
    author = person_or_unknown({post.author_id: ref_of(person)} if person else {}, post.author_id)
    for referral in shared:
        agreement = await session.get(Agreement, (tenant, referral.agreement_id))
        if agreement is None or agreement.state != ACCEPTED:
            continue
        await sending.stage(
            session,
            settings,
            agreement=agreement,
            event_type=envelope.SHARED_POST,
            data={
                "referral_id": str(referral.id),
                "category": post.category,
                "excerpt": post.excerpt,
                "author_key": author_key(post.author_id),
                "author": {"name": author.name, "label": author.label("ja")} if person else {},
            },
            subject_id=post.subject_id,
        )
    return len(shared)
