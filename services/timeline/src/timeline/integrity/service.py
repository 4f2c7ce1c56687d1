"""Integrity (T5): each post version's canonical content hash and signature, and verifying them again along
with the attachments' stored objects. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal
from yui_common.storage import ObjectStore

from timeline import objects
from timeline.access.service import board_of, reach_post, record_audit
from timeline.attachments import repository as attachment_repository
from timeline.integrity.signing import ContentSigner, canonical_sha256
from timeline.models import Attachment, Post, PostVersion
from timeline.posts import repository as post_repository


def version_content(post: Post, version: PostVersion, attachments: Sequence[Attachment]) -> dict[str, object]:
    by_id = {a.id: a for a in attachments}
    return {
        "post_id": str(post.id),
        "version": version.version,
        "subject_id": str(post.subject_id) if post.subject_id else None,
        "group_id": str(post.group_id) if post.group_id else None,
        "parent_id": str(post.parent_id) if post.parent_id else None,
        "category": version.category,
        "body": version.body,
        "mentioned_user_ids": sorted(str(u) for u in post.mentioned_user_ids),
        "attachments": sorted(
            [str(a), by_id[a].content_sha256 if a in by_id else None] for a in version.attachment_ids
        ),
    }


def new_version(
    signer: ContentSigner,
    post: Post,
    *,
    number: int,
    author_id: UUID,
    category: str,
    body: str,
    attachments: Sequence[Attachment],
    at: datetime,
) -> PostVersion:
    version = PostVersion(
        post_id=post.id,
        version=number,
        author_id=author_id,
        category=category,
        body=body,
        attachment_ids=[a.id for a in attachments],
        created_at=at,
    )
    version.content_sha256 = canonical_sha256(version_content(post, version, attachments))
    version.signature = signer.sign(version.content_sha256, author_id, at)
    return version


@dataclass
class Verification:
    post_id: UUID
    current_row_matches_latest_version: bool
    versions: list[tuple[int, bool, bool]]
    attachments: list[tuple[UUID, bool, bool]]

    @property
    def intact(self) -> bool:
        return (
            self.current_row_matches_latest_version
            and all(h and s for _, h, s in self.versions)
            and all(s and o for _, s, o in self.attachments)
        )


async def verify_post(
    session: AsyncSession, *, principal: Principal, signer: ContentSigner, store: ObjectStore, post_id: UUID
) -> Verification:
    """Recompute every version's hash from the stored rows and check the service's signatures; re-hash each
    attachment's stored object. A row or object changed outside Yui shows as a mismatch."""
    post, _ = await reach_post(session, principal=principal, post_id=post_id)
    versions = list(await post_repository.versions_of(session, post_id=post.id))
    attachment_ids = list(dict.fromkeys(a for v in versions for a in v.attachment_ids))
    attachments = list(await attachment_repository.attachments_by_ids(session, attachment_ids=attachment_ids))
    checked_versions = []
    for version in versions:
        recomputed = canonical_sha256(version_content(post, version, attachments))
        checked_versions.append(
            (
                version.version,
                recomputed == version.content_sha256,
                signer.verify(
                    version.signature, version.content_sha256, version.author_id, version.created_at
                ),
            )
        )
    latest = versions[-1] if versions else None
    row_matches = latest is not None and (
        latest.version == post.version and latest.body == post.body and latest.category == post.category
    )
    checked_attachments = []
    for attachment in attachments:
        stored = await objects.object_sha256(store, attachment.object_key)
        checked_attachments.append(
            (
                attachment.id,
                signer.verify(
                    attachment.signature,
                    attachment.content_sha256,
                    attachment.uploaded_by,
                    attachment.created_at,
                ),
                stored == attachment.content_sha256,
            )
        )
    result = Verification(post.id, row_matches, checked_versions, checked_attachments)
    await record_audit(session, principal, "post.verify", board_of(post), post=post.id, intact=result.intact)
    return result
