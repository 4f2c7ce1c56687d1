"""HTTP models of revocations: how far one has reached, and the operator's list of unfinished ones."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class ServicePropagation(BaseModel):
    service: str
    # When the service stored the entry (its own clock) and how many milliseconds after identity's commit;
    # both None while the service has not acknowledged.
    applied_at: datetime | None
    after_ms: float | None


class Propagation(BaseModel):
    """Shown with the answer of a request that revoked: which services refuse the tokens already."""

    revocation_ids: list[UUID]
    committed_at: datetime
    complete: bool
    services: list[ServicePropagation]
    pending: list[str]


class RevocationStepRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    service: str
    applied_at: datetime | None


class RevocationRead(BaseModel):
    id: UUID
    kind: str
    target: str
    reason: str
    requested_by: str
    requested_at: datetime
    complete: bool
    pending: list[str]
    steps: list[RevocationStepRead]
