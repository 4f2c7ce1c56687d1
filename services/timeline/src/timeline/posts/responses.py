"""Turning post views into the API's HTTP answers, for every router that returns posts."""

from __future__ import annotations

from fastapi import Response

from timeline.attachments.schemas import AttachmentRead
from timeline.posts.schemas import REFERENCE_HEADER, PostRead
from timeline.posts.service import PostView
from timeline.support_requests.schemas import SupportRequestRead


def post_read(view: PostView) -> PostRead:
    post = view.post
    deleted = post.deleted_at is not None
    return PostRead(
        id=post.id,
        subject_id=post.subject_id,
        group_id=post.group_id,
        parent_id=post.parent_id,
        author_id=post.author_id,
        facility_id=post.facility_id,
        category=post.category,
        body=None if deleted else post.body,
        version=post.version,
        mentioned_user_ids=[] if deleted else list(post.mentioned_user_ids),
        created_at=post.created_at,
        updated_at=post.updated_at,
        deleted_at=post.deleted_at,
        deleted_by=post.deleted_by,
        attachments=[
            AttachmentRead.model_validate(a).model_copy(update={"has_thumbnail": a.thumbnail_key is not None})
            for a in view.attachments
        ],
        reply_count=view.reply_count,
        read_count=view.read_count,
        read_by_me=view.read_by_me,
        support_request=SupportRequestRead(
            addressed_user_id=post.addressed_user_id,
            addressed_facility_id=post.addressed_facility_id,
            status=post.request_status,
            updated_at=post.request_updated_at,
        )
        if post.request_status
        else None,
    )


def mark_reference_only(response: Response) -> None:
    """T4: every answer carrying shared information says it is a reference copy (the UI shows it)."""
    response.headers[REFERENCE_HEADER] = "true"
