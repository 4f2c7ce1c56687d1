"""Federation's events: a new post on a subject another network shared with this one is told to the staff the
referral lets see it (issue 12), and when the referral ends or its consent is withdrawn those notifications go."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.federation import FederationSharedPostV1, FederationSharedPurgedV1

from notify import kinds, service
from notify.contents import PostContent
from notify.models import Notification


async def on_shared_post(session: AsyncSession, envelope: Envelope, data: FederationSharedPostV1) -> None:
    await service.tell(
        session,
        tenant=envelope.tenant,
        user_ids=data.user_ids,
        kind=kinds.SHARED_POST,
        source_event_id=envelope.id,
        params={
            "referral_id": str(data.referral_id),
            "subject_name": data.subject_name,
            "network": data.home_network_name,
            "category": data.category,
            "author": data.author_label or data.author_name,
        },
        content=PostContent(excerpt=data.excerpt),
    )


async def on_shared_purged(session: AsyncSession, envelope: Envelope, data: FederationSharedPurgedV1) -> None:
    # Nothing of a subject no longer shared stays, its notifications' names and excerpts included.
    await session.execute(
        sa.delete(Notification).where(
            Notification.tenant == envelope.tenant,
            Notification.kind == kinds.SHARED_POST,
            Notification.params["referral_id"].astext == str(data.referral_id),
        )
    )


subscription = Subscription(
    queue="notify.federation-events",
    handlers={
        FederationSharedPostV1.event_type: on_shared_post,
        FederationSharedPurgedV1.event_type: on_shared_purged,
    },
)
