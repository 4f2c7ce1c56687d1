"""Events published by the timeline service."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from yui_common.events import EventData, SupportStoppedBase, event


@event("timeline.post-created.v1")
class PostCreatedV1(EventData):
    """A post (or a reply) was added to a subject's timeline."""

    subject_id: UUID
    post_id: UUID
    author_id: UUID
    # Added later within v1 (optional): what notify needs to tell the right people.
    category: str | None = None
    parent_id: UUID | None = None
    mentioned_user_ids: list[UUID] = Field(default_factory=list)
    # Added within v1 (issue 10): the body's first characters, for the notification of someone on the team.
    excerpt: str | None = None


@event("timeline.group-post-created.v1")
class GroupPostCreatedV1(EventData):
    """A post (or a reply) was added to a group's board."""

    group_id: UUID
    post_id: UUID
    author_id: UUID
    parent_id: UUID | None = None
    mentioned_user_ids: list[UUID] = Field(default_factory=list)


@event("timeline.reply-created.v1")
class ReplyCreatedV1(EventData):
    """Someone replied in a thread: the thread's author (and its other writers) may want to know."""

    post_id: UUID
    parent_id: UUID
    author_id: UUID
    parent_author_id: UUID
    subject_id: UUID | None = None
    group_id: UUID | None = None
    # Added within v1 (issue 10): the body's first characters, for the recipient's notification.
    excerpt: str | None = None


@event("timeline.user-mentioned.v1")
class UserMentionedV1(EventData):
    """A post mentions team or group members by id."""

    post_id: UUID
    author_id: UUID
    mentioned_user_ids: list[UUID]
    subject_id: UUID | None = None
    group_id: UUID | None = None
    # Added within v1 (issue 10): the body's first characters, for the recipient's notification.
    excerpt: str | None = None
    # Added within v1 (issue 10): the thread's post when the mentioning post is a reply, so the
    # notification opens the thread at the reply.
    parent_id: UUID | None = None


@event("timeline.support-requested.v1")
class SupportRequestedV1(EventData):
    """A post asks a user or a facility for support (second opinion, remote diagnosis) (T2)."""

    subject_id: UUID
    post_id: UUID
    author_id: UUID
    addressed_user_id: UUID | None = None
    addressed_facility_id: UUID | None = None
    # Added within v1 (issue 10): the body's first characters, for the recipient's notification.
    excerpt: str | None = None


@event("timeline.support-request-answered.v1")
class SupportRequestAnsweredV1(EventData):
    """The addressee answered a support request; the requester decides whether to adopt the answer."""

    subject_id: UUID
    post_id: UUID
    answer_post_id: UUID
    answered_by: UUID
    requester_id: UUID
    # Added within v1 (issue 10): the answer's first characters, for the requester's notification.
    excerpt: str | None = None


@event("timeline.support-request-decided.v1")
class SupportRequestDecidedV1(EventData):
    """The requester adopted or declined the answer to their support request."""

    subject_id: UUID
    post_id: UUID
    decision: str  # adopted | declined
    decided_by: UUID
    addressed_user_id: UUID | None = None
    addressed_facility_id: UUID | None = None
    # Added within v1 (issue 10): the request's first characters, for the addressee's notification (which
    # request was adopted or declined).
    excerpt: str | None = None


@event("timeline.group-member-invited.v1")
class GroupMemberInvitedV1(EventData):
    group_id: UUID
    user_id: UUID
    invited_by: UUID


@event("timeline.group-member-joined.v1")
class GroupMemberJoinedV1(EventData):
    group_id: UUID
    user_id: UUID


@event("timeline.group-member-left.v1")
class GroupMemberLeftV1(EventData):
    group_id: UUID
    user_id: UUID


@event("timeline.support-stopped.v1")
class TimelineSupportStoppedV1(SupportStoppedBase):
    """Timeline has set every post of the subject support stopped (or deleted them)."""
