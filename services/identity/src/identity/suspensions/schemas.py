"""HTTP models of suspensions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from identity.revocations.schemas import Propagation


class SuspensionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_kind: Literal["user", "facility"]
    target_id: UUID
    reason: str = Field(min_length=1, max_length=2000)
    emergency: bool = False


class SuspensionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    target_kind: str
    target_id: UUID
    reason: str
    emergency: bool
    suspended_by: UUID
    suspended_by_role: str
    created_at: datetime
    needs_acknowledgement: bool
    acknowledged_at: datetime | None
    lifted_at: datetime | None


class SuspensionCreated(SuspensionRead):
    """The suspension, and how far it has reached: 201 once every service refuses the tokens, else 202."""

    propagation: Propagation | None = None
