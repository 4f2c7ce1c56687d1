"""What is shown of a network's exports and its end: each operation and each service's part of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel


class StepRead(BaseModel):
    service: str
    done: bool
    completed_at: datetime | None
    report: dict[str, Any]


class OperationRead(BaseModel):
    id: UUID
    network: str
    kind: str  # export | end
    bucket: str | None
    prefix: str | None
    export_id: UUID | None
    requested_by: str
    requested_at: datetime
    completed_at: datetime | None
    steps: list[StepRead]

    @property
    def complete(self) -> bool:
        return self.completed_at is not None

    @property
    def manifest_key(self) -> str | None:
        return f"{self.prefix}manifest.json" if self.kind == "export" and self.prefix else None


class NetworkEndRead(BaseModel):
    """A network's state as to its end, and its exports and end, newest first."""

    slug: str
    name: str
    status: str
    suspended_at: datetime | None
    operations: list[OperationRead]
