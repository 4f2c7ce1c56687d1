"""HTTP models of attachments."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: UUID
    post_id: UUID | None
    filename: str
    content_type: str
    size: int
    content_sha256: str
    signature: str
    created_at: datetime
    has_thumbnail: bool = False


class DownloadLink(BaseModel):
    url: str
    expires_at: datetime
