"""HTTP models of posts: writing, reading, pages, threads, read marks, versions and the feed."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from yui_common.vocabulary import PostCategory

from timeline.attachments.schemas import AttachmentRead
from timeline.models import UNREAD_WINDOW
from timeline.support_requests.schemas import SupportRequestCreate, SupportRequestRead

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


class PostRead(BaseModel):
    id: UUID
    subject_id: UUID | None
    group_id: UUID | None
    parent_id: UUID | None
    author_id: UUID
    facility_id: UUID | None
    category: str
    body: str | None = Field(description="None when the post was deleted (a tombstone)")
    version: int
    mentioned_user_ids: list[UUID]
    created_at: datetime
    updated_at: datetime | None
    deleted_at: datetime | None
    deleted_by: UUID | None
    attachments: list[AttachmentRead] = []
    reply_count: int = 0
    read_count: int = 0
    read_by_me: bool = False
    support_request: SupportRequestRead | None = None


class ReadMarkRead(BaseModel):
    user_id: UUID
    read_at: datetime


class PostDetail(PostRead):
    replies: list[PostRead] = []
    read_by: list[ReadMarkRead] = []
    reference_notice: str = REFERENCE_NOTICE


class PostPage(BaseModel):
    items: list[PostRead]
    next_cursor: str | None = None
    reference_notice: str = REFERENCE_NOTICE


class PostVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    version: int
    author_id: UUID
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
