"""HTTP models of consents and their scanned forms."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from consent.models import Consent


class ConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    given_by: Literal["subject", "proxy"] = "subject"
    proxy_name: str | None = Field(default=None, min_length=1, max_length=200)
    proxy_relation: str | None = Field(default=None, min_length=1, max_length=100)
    given_on: date


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    subject_id: UUID
    status: str
    given_by: str
    proxy_name: str | None
    proxy_relation: str | None
    given_on: date
    recorded_at: datetime
    withdrawn_at: datetime | None
    recorded_by: UUID
    recorded_facility_id: UUID | None
    form_on_file: bool = False
    form_content_type: str | None = None
    form_size: int | None = None


class ConsentFormLink(BaseModel):
    """Where to fetch the scanned form: the gateway-relative path of the streaming route, never a storage URL.
    ``expires_in`` is always null (each fetch is authorized); it stays for clients of the old presigned link."""

    url: str
    expires_in: int | None = None


def consent_read(consent: Consent) -> ConsentRead:
    read = ConsentRead.model_validate(consent)
    return read.model_copy(update={"form_on_file": consent.form_object_key is not None})
