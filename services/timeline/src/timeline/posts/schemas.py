"""HTTP models of posts: writing, reading, pages, threads, read marks, versions and the feed."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field
from yui_common.people import PersonRef
from yui_common.vocabulary import PostCategory

from timeline.attachments.schemas import AttachmentRead
from timeline.models import UNREAD_WINDOW
from timeline.support_requests.schemas import SupportRequestCreate, SupportRequestRead

# What a page carries beside each post: its latest replies (the rest behind "show all") and its first readers.
RECENT_REPLIES = 3
FIRST_READERS = 5
# How many posts one batch of read marks may name (a screenful of posts and their replies).
READ_MARK_BATCH = 100

# T4: what is shared is a reference copy; the original stays in each facility's own records.
REFERENCE_NOTICE = "共有された情報は参考情報です。原本は各施設の記録にあります。"
REFERENCE_HEADER = "X-Yui-Reference-Only"


class PostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: PostCategory = "other"
    body: str = Field(min_length=1, max_length=20000)
    mentions: list[UUID] = Field(default_factory=list, max_length=50)
    attachment_ids: list[UUID] = Field(default_factory=list, max_length=20)
    support_request: SupportRequestCreate | None = None


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: PostCategory = "other"
    body: str = Field(min_length=1, max_length=20000)
    mentions: list[UUID] = Field(default_factory=list, max_length=50)
    attachment_ids: list[UUID] = Field(default_factory=list, max_length=20)


class PostEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: PostCategory | None = None
    body: str = Field(min_length=1, max_length=20000)


class ReadMarkRead(BaseModel):
    user_id: UUID
    reader: PersonRef
    read_at: datetime


class ReplySummary(BaseModel):
    """A reply as the timeline shows it under its post, without opening the thread."""

    id: UUID
    author_id: UUID
    author: PersonRef
    category: str
    body: str
    version: int
    created_at: datetime
    updated_at: datetime | None
    attachments: list[AttachmentRead] = []
    read_by_me: bool = False
    unread: bool = Field(False, description="Written by someone else and not yet read by me")


class PostRead(BaseModel):
    id: UUID
    subject_id: UUID | None
    group_id: UUID | None
    parent_id: UUID | None
    author_id: UUID
    author: PersonRef
    facility_id: UUID | None
    category: str
    body: str | None = Field(description="None when the post was deleted (a tombstone)")
    version: int
    mentioned_user_ids: list[UUID]
    mentioned: list[PersonRef] = []
    created_at: datetime
    updated_at: datetime | None
    deleted_at: datetime | None
    deleted_by: UUID | None
    attachments: list[AttachmentRead] = []
    reply_count: int = 0
    read_count: int = 0
    read_by_me: bool = False
    unread: bool = Field(False, description="Written by someone else, not deleted, and not yet read by me")
    read_by: list[ReadMarkRead] = Field(
        default=[], description=f"The first {FIRST_READERS} readers (read_count tells how many in all)"
    )
    recent_replies: list[ReplySummary] = Field(
        default=[], description=f"The latest {RECENT_REPLIES} replies, oldest first (reply_count tells all)"
    )
    support_request: SupportRequestRead | None = None


class PostDetail(PostRead):
    """The thread: every reply, and every reader (read_by is complete here)."""

    replies: list[PostRead] = []
    reference_notice: str = REFERENCE_NOTICE


class PostPage(BaseModel):
    items: list[PostRead]
    next_cursor: str | None = None
    reference_notice: str = REFERENCE_NOTICE

    @computed_field  # type: ignore[prop-decorator]
    @property
    def first_unread_post_id(self) -> UUID | None:
        """The oldest post of this page that is unread or shows an unread reply ("jump to the first unread")."""
        return first_unread(self.items)


def first_unread(items: list[PostRead]) -> UUID | None:
    for item in reversed(items):
        if item.unread or any(reply.unread for reply in item.recent_replies):
            return item.id
    return None


class ReadMarksCreate(BaseModel):
    """Posts (or replies) of one board that have been on my screen: marked read, idempotently."""

    model_config = ConfigDict(extra="forbid")
    post_ids: list[UUID] = Field(min_length=1, max_length=READ_MARK_BATCH)


class ReadMarksResult(BaseModel):
    marked: int = Field(description="How many of the posts this batch marked read for the first time")


class MentionCandidates(BaseModel):
    """Who may be mentioned on a board: its care team or group members, me excepted, by name."""

    items: list[PersonRef]


class ConversationPage(BaseModel):
    """The staff UI's conversation page in one answer: the page of posts and whom a post may mention."""

    page: PostPage
    mention_candidates: list[PersonRef]


class PostVersionRead(BaseModel):
    version: int
    author_id: UUID
    author: PersonRef
    category: str
    body: str
    attachment_ids: list[UUID]
    created_at: datetime
    content_sha256: str
    signature: str


class FeedItem(BaseModel):
    subject_id: UUID | None = None
    group_id: UUID | None = None
    latest_post: PostRead | None
    unread_count: int = Field(
        description=f"Unread posts among the board's newest {UNREAD_WINDOW} ({UNREAD_WINDOW} means as many or more)",
        ge=0,
        le=UNREAD_WINDOW,
    )


class Feed(BaseModel):
    items: list[FeedItem]
    total_unread: int
    reference_notice: str = REFERENCE_NOTICE
