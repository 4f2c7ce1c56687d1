"""HTTP models of groups (T6)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from yui_common.people import PersonRef
from yui_common.vocabulary import GroupPurpose


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
    member: PersonRef | None = None
    status: str
    invited_by: UUID | None
    invited_by_person: PersonRef | None = None
    invited_at: datetime
    joined_at: datetime | None
