"""HTTP models of the notify API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    kind: str
    subject_id: UUID | None
    params: dict[str, object]
    created_at: datetime
    read_at: datetime | None


class Inbox(BaseModel):
    unread: int
    items: list[NotificationRead]


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
