"""HTTP models of exceptional-access requests, decisions and grants."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

Ground = Literal["disaster", "abuse_or_violence", "lost_capacity_no_family", "other_emergency"]


class ExceptionalAccessCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_id: UUID
    ground: Ground
    reason: str = Field(min_length=1, max_length=2000)


class ExceptionalAccessDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, min_length=1, max_length=2000)
    hours: int = Field(default=24, ge=1, le=168, description="How long an approved grant lasts")


class ExceptionalAccessRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    subject_id: UUID
    user_id: UUID
    facility_id: UUID | None
    ground: str
    reason: str
    status: str
    requested_at: datetime
    decided_by: UUID | None
    decided_at: datetime | None
    decision_note: str | None
    expires_at: datetime | None
    ended_at: datetime | None
