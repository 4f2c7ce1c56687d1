"""HTTP models of the timeline API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from timeline.models import UNREAD_WINDOW

Category = Literal[
    "visit",
    "treatment",
    "medication",
    "vital_signs",
    "test_result",
    "daily_living",
    "instruction",
    "support_progress",
    "other",
]
GroupPurpose = Literal["training", "information_exchange", "administrative", "other"]

# T4: what is shared is a reference copy; the original stays in each facility's own records.
REFERENCE_NOTICE = "共有された情報は参考情報です。原本は各施設の記録にあります。"
REFERENCE_HEADER = "X-Yui-Reference-Only"


class SupportRequestCreate(BaseModel):
    """Ask a user or a facility for support (T2): exactly one addressee."""

    model_config = ConfigDict(extra="forbid")
    addressed_user_id: UUID | None = None
    addressed_facility_id: UUID | None = None

    @model_validator(mode="after")
    def _one_addressee(self) -> SupportRequestCreate:
        if (self.addressed_user_id is None) == (self.addressed_facility_id is None):
            raise ValueError("address the request to exactly one user or one facility")
        return self


class PostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Category = "other"
    body: str = Field(min_length=1, max_length=20000)
    mentions: list[UUID] = Field(default_factory=list, max_length=50)
    attachment_ids: list[UUID] = Field(default_factory=list, max_length=20)
    support_request: SupportRequestCreate | None = None


class ReplyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Category = "other"
    body: str = Field(min_length=1, max_length=20000)
    mentions: list[UUID] = Field(default_factory=list, max_length=50)
    attachment_ids: list[UUID] = Field(default_factory=list, max_length=20)


class PostEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Category | None = None
    body: str = Field(min_length=1, max_length=20000)


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    post_id: UUID | None
    filename: str
    content_type: str
    size: int
    content_sha256: str
    signature: str
    created_at: datetime
    has_thumbnail: bool = False


class SupportRequestRead(BaseModel):
    addressed_user_id: UUID | None
    addressed_facility_id: UUID | None
    status: str
    updated_at: datetime | None


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


class VersionCheck(BaseModel):
    version: int
    content_sha256_matches: bool
    signature_valid: bool


class AttachmentCheck(BaseModel):
    id: UUID
    signature_valid: bool
    stored_object_matches: bool


class PostVerification(BaseModel):
    post_id: UUID
    intact: bool
    current_row_matches_latest_version: bool
    versions: list[VersionCheck]
    attachments: list[AttachmentCheck]
    public_key_pem: str


class SupportDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["adopted", "declined"]


class DownloadLink(BaseModel):
    url: str
    expires_at: datetime


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


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    purpose: GroupPurpose = "information_exchange"
    description: str = Field(default="", max_length=2000)


class GroupRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    name: str
    purpose: str
    description: str
    created_by: UUID
    created_at: datetime
    my_status: str | None = None


class GroupInvitation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: UUID


class GroupMemberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    user_id: UUID
    status: str
    invited_by: UUID | None
    invited_at: datetime
    joined_at: datetime | None


class ErasureRequest(BaseModel):
    """The operator deletes a subject's posts, a group's, or those of a period (T3)."""

    model_config = ConfigDict(extra="forbid")
    subject_id: UUID | None = None
    group_id: UUID | None = None
    posted_from: datetime | None = None
    posted_before: datetime | None = None

    @model_validator(mode="after")
    def _some_scope(self) -> ErasureRequest:
        if not any((self.subject_id, self.group_id, self.posted_from, self.posted_before)):
            raise ValueError("name a subject, a group or a period")
        return self


class ErasureResult(BaseModel):
    posts_removed: int
    objects_removed: int
