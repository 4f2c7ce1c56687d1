"""Integrity routes (T5): checking a post's versions and files, and the service's public signing key."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from timeline.dependencies import Signer, Store
from timeline.integrity import service
from timeline.integrity.schemas import AttachmentCheck, PostVerification, VersionCheck
from timeline.posts.api import RESPONSES

router = APIRouter(tags=["integrity"])


@router.get("/posts/{post_id}/verify", response_model=PostVerification, responses=RESPONSES)
async def verify_post(
    post_id: UUID, session: DbSession, principal: CurrentPrincipal, signer: Signer, store: Store
) -> PostVerification:
    """Recompute hashes and check the service's Ed25519 signatures of every version and attachment."""
    result = await service.verify_post(
        session, principal=principal, signer=signer, store=store, post_id=post_id
    )
    return PostVerification(
        post_id=result.post_id,
        intact=result.intact,
        current_row_matches_latest_version=result.current_row_matches_latest_version,
        versions=[
            VersionCheck(version=v, content_sha256_matches=h, signature_valid=s)
            for v, h, s in result.versions
        ],
        attachments=[
            AttachmentCheck(id=i, signature_valid=s, stored_object_matches=o)
            for i, s, o in result.attachments
        ],
        public_key_pem=signer.public_key_pem(),
    )


@router.get("/signing-key", response_class=Response)
async def signing_key(signer: Signer) -> Response:
    """The service's Ed25519 public key (PEM), to check signatures outside Yui."""
    return Response(signer.public_key_pem(), media_type="application/x-pem-file")
