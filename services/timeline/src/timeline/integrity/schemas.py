"""HTTP models of the integrity check (T5)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel


class VersionCheck(BaseModel):
    version: int
    content_sha256_matches: bool
    signature_valid: bool


class AttachmentCheck(BaseModel):
    id: UUID
    signature_valid: bool
    stored_object_matches: bool


class PostVerification(BaseModel):
    post_id: UUID
    intact: bool
    current_row_matches_latest_version: bool
    versions: list[VersionCheck]
    attachments: list[AttachmentCheck]
    public_key_pem: str
