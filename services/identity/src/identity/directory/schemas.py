"""HTTP models of the public directory and of each facility's publication."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class DirectoryEntry(BaseModel):
    """One facility as the public sees it: a field the facility did not agree to publish is absent (None)."""

    id: UUID
    kind: str
    name: str | None = None
    address: str | None = None
    phone: str | None = None
    status: str | None = None


class DirectoryPage(BaseModel):
    tenant: str
    network_name: str
    opt_in_only: bool
    entries: list[DirectoryEntry]


class PublicationRead(BaseModel):
    facility_id: UUID
    listed: bool
    opted_in_at: datetime | None
    publish_name: bool
    publish_address: bool
    publish_contact: bool
    publish_status: bool
    withheld_by_operator: bool
    withheld_reason: str | None
    network_opt_in_only: bool
    # What the public directory shows now, given all of the above.
    visible: bool


class PublicationUpdate(BaseModel):
    """The facility's choices (its administrator or the operator) and the operator's veto (operator only)."""

    model_config = ConfigDict(extra="forbid")
    listed: bool | None = None
    publish_name: bool | None = None
    publish_address: bool | None = None
    publish_contact: bool | None = None
    publish_status: bool | None = None
    withheld_by_operator: bool | None = None
    withheld_reason: str | None = Field(default=None, min_length=1, max_length=2000)


class DirectoryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)
    opt_in_only: bool
