"""HTTP models of support requests (T2)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, model_validator
from yui_common.people import PersonRef


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


class SupportRequestRead(BaseModel):
    """The request's addressee (the requester is the post's author)."""

    addressed_user_id: UUID | None
    addressee: PersonRef | None = None
    addressed_facility_id: UUID | None
    addressed_facility_name: str | None = None
    status: str
    updated_at: datetime | None


class SupportDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["adopted", "declined"]
