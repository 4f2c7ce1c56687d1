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
    """Where the file is downloaded: a path on the gateway that checks access on every request."""

    url: str
    # Null: the link does not expire by itself, it works for as long as the caller may reach the file.
    expires_at: datetime | None = None
