"""HTTP models of the operator's erasure (T3)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, model_validator


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
