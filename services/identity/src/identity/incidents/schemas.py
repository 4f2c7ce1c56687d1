"""HTTP models of incident reports."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class IncidentReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Literal["security", "defect"]
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=10000)


class IncidentNote(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=4000)


class IncidentReportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    facility_id: UUID
    reporter_id: UUID
    category: str
    title: str
    body: str
    status: str
    created_at: datetime
    escalated_at: datetime | None
    forwarded_at: datetime | None
    resolved_at: datetime | None
    notes: list[dict[str, str]]
