"""HTTP models of the notify API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from yui_common.people import PersonRef


class SubjectRef(BaseModel):
    """The patient a notification is about, as notify's projection knows them when the inbox is read."""

    id: UUID
    name: str | None = Field(description="None until notify has heard of the subject (consent's event).")
    name_kana: str | None = None
    status: str = Field(default="active", description='"active" or "support_stopped".')


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    kind: str
    subject_id: UUID | None
    subject: SubjectRef | None = None
    post_id: UUID | None = Field(default=None, description="The post it is about (a reply's own id).")
    parent_id: UUID | None = Field(default=None, description="The thread's post when post_id is a reply.")
    author_id: UUID | None = None
    author: PersonRef | None = Field(default=None, description="Who wrote, invited or acted.")
    excerpt: str | None = Field(
        default=None, description="The post's first characters; absent once support stopped."
    )
    params: dict[str, object]
    created_at: datetime
    read_at: datetime | None


class NotificationGroup(BaseModel):
    """The notifications about one patient (or, with ``subject`` null, about none), newest first."""

    subject: SubjectRef | None
    newest_at: datetime
    unread: int
    items: list[NotificationRead]


class Inbox(BaseModel):
    """The inbox; with ``?group=subject`` also ``groups``, absent otherwise. One model, not a union of two:
    schemathesis (sec3) follows the items' ids to their operations only through a single response schema."""

    unread: int
    items: list[NotificationRead] = Field(description="Newest first (by time, then id).")
    groups: list[NotificationGroup] | SkipJsonSchema[None] = Field(
        default=None,
        exclude_if=lambda groups: groups is None,
        description="Only with ?group=subject: the items per patient, the newest group first.",
    )


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int


class PreferencesRead(BaseModel):
    email: str | None
    channels: dict[str, str] = Field(description='Per kind: "off", "in_app" or "email".')
    digest_hour: int


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # A plain shape check: the address is the user's own and only ever gets "something new" notes.
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    channels: dict[str, str] = Field(default_factory=dict, description="Kinds not listed follow the network.")
    digest_hour: int | None = Field(default=None, ge=0, le=23)


class NetworkDefaultsRead(BaseModel):
    channels: dict[str, str]
    digest_hour: int
    retention_days: int


class NetworkDefaultsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: dict[str, str] = Field(default_factory=dict)
    digest_hour: int = Field(default=8, ge=0, le=23)
    retention_days: int = Field(default=365, ge=1, le=3650)
