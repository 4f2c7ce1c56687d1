"""Timeline's events: new posts, replies, mentions and support requests, told to the people concerned."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.bus.consumer import Subscription
from yui_common.events import Envelope
from yui_common.events.timeline import (
    PostCreatedV1,
    ReplyCreatedV1,
    SupportRequestAnsweredV1,
    SupportRequestDecidedV1,
    SupportRequestedV1,
    UserMentionedV1,
)

from notify import kinds, service
from notify.contents import PostContent


async def on_post_created(session: AsyncSession, envelope: Envelope, data: PostCreatedV1) -> None:
    # Those mentioned hear of it through their mention (a more urgent kind), so not twice.
    await service.notify_team(
        session,
        tenant=envelope.tenant,
        subject_id=data.subject_id,
        kind=kinds.POST_CREATED,
        source_event_id=envelope.id,
        params={"post_id": str(data.post_id), "parent_id": str(data.parent_id) if data.parent_id else None},
        exclude=[data.author_id, *data.mentioned_user_ids],
        content=PostContent(
            post_id=data.post_id, parent_id=data.parent_id, author_id=data.author_id, excerpt=data.excerpt
        ),
    )


async def on_reply_created(session: AsyncSession, envelope: Envelope, data: ReplyCreatedV1) -> None:
    if data.parent_author_id == data.author_id:
        return
    await service.tell(
        session,
        tenant=envelope.tenant,
        user_ids=[data.parent_author_id],
        kind=kinds.POST_REPLY,
        source_event_id=envelope.id,
        subject_id=data.subject_id,
        params={
            "post_id": str(data.post_id),
            "parent_id": str(data.parent_id),
            "group_id": _text(data.group_id),
        },
        content=PostContent(
            post_id=data.post_id, parent_id=data.parent_id, author_id=data.author_id, excerpt=data.excerpt
        ),
    )


async def on_user_mentioned(session: AsyncSession, envelope: Envelope, data: UserMentionedV1) -> None:
    await service.tell(
        session,
        tenant=envelope.tenant,
        user_ids=[u for u in data.mentioned_user_ids if u != data.author_id],
        kind=kinds.POST_MENTION,
        source_event_id=envelope.id,
        subject_id=data.subject_id,
        params={
            "post_id": str(data.post_id),
            "parent_id": _text(data.parent_id),
            "group_id": _text(data.group_id),
        },
        # A mention inside a reply opens its thread at the reply (events from before parent_id: the post).
        content=PostContent(
            post_id=data.post_id, parent_id=data.parent_id, author_id=data.author_id, excerpt=data.excerpt
        ),
    )


async def on_support_requested(session: AsyncSession, envelope: Envelope, data: SupportRequestedV1) -> None:
    await service.tell_addressees(
        session,
        tenant=envelope.tenant,
        user_id=data.addressed_user_id,
        facility_id=data.addressed_facility_id,
        sender=data.author_id,
        kind=kinds.SUPPORT_REQUESTED,
        source_event_id=envelope.id,
        subject_id=data.subject_id,
        params={"post_id": str(data.post_id)},
        content=PostContent(post_id=data.post_id, author_id=data.author_id, excerpt=data.excerpt),
    )


async def on_support_answered(
    session: AsyncSession, envelope: Envelope, data: SupportRequestAnsweredV1
) -> None:
    await service.tell(
        session,
        tenant=envelope.tenant,
        user_ids=[data.requester_id],
        kind=kinds.SUPPORT_ANSWERED,
        source_event_id=envelope.id,
        subject_id=data.subject_id,
        params={"post_id": str(data.post_id), "answer_post_id": str(data.answer_post_id)},
        content=PostContent(post_id=data.post_id, author_id=data.answered_by, excerpt=data.excerpt),
    )


async def on_support_decided(
    session: AsyncSession, envelope: Envelope, data: SupportRequestDecidedV1
) -> None:
    await service.tell_addressees(
        session,
        tenant=envelope.tenant,
        user_id=data.addressed_user_id,
        facility_id=data.addressed_facility_id,
        sender=data.decided_by,
        kind=kinds.SUPPORT_DECIDED,
        source_event_id=envelope.id,
        subject_id=data.subject_id,
        params={"post_id": str(data.post_id), "decision": data.decision},
        content=PostContent(post_id=data.post_id, author_id=data.decided_by, excerpt=data.excerpt),
    )


def _text(value: object | None) -> str | None:
    return str(value) if value is not None else None


subscription = Subscription(
    queue="notify.timeline-events",
    handlers={
        PostCreatedV1.event_type: on_post_created,
        ReplyCreatedV1.event_type: on_reply_created,
        UserMentionedV1.event_type: on_user_mentioned,
        SupportRequestedV1.event_type: on_support_requested,
        SupportRequestAnsweredV1.event_type: on_support_answered,
        SupportRequestDecidedV1.event_type: on_support_decided,
    },
)
