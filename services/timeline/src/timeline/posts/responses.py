"""Turning post views into the API's HTTP answers, for every router that returns posts."""

from __future__ import annotations

from fastapi import Response
from yui_common.people import PersonRef

from timeline.attachments.schemas import AttachmentRead
from timeline.models import Attachment
from timeline.posts.schemas import REFERENCE_HEADER, PostRead, ReadMarkRead, ReplySummary
from timeline.posts.service import PostView, Reader
from timeline.support_requests.schemas import SupportRequestRead


def attachment_read(attachment: Attachment) -> AttachmentRead:
    return AttachmentRead.model_validate(attachment).model_copy(
        update={"has_thumbnail": attachment.thumbnail_key is not None}
    )


def read_mark_read(reader: Reader) -> ReadMarkRead:
    return ReadMarkRead(user_id=reader.mark.user_id, reader=reader.reader, read_at=reader.mark.read_at)


def post_read(view: PostView) -> PostRead:
    post = view.post
    deleted = post.deleted_at is not None
    return PostRead(
        id=post.id,
        subject_id=post.subject_id,
        group_id=post.group_id,
        parent_id=post.parent_id,
        author_id=post.author_id,
        author=view.author or PersonRef.unknown(post.author_id),
        facility_id=post.facility_id,
        category=post.category,
        body=None if deleted else post.body,
        version=post.version,
        mentioned_user_ids=[] if deleted else list(post.mentioned_user_ids),
        mentioned=view.mentioned,
        created_at=post.created_at,
        updated_at=post.updated_at,
        deleted_at=post.deleted_at,
        deleted_by=post.deleted_by,
        attachments=[attachment_read(a) for a in view.attachments],
        reply_count=view.reply_count,
        read_count=view.read_count,
        read_by_me=view.read_by_me,
        unread=view.unread,
        read_by=[read_mark_read(r) for r in view.read_by],
        recent_replies=[
            ReplySummary(
                id=r.post.id,
                author_id=r.post.author_id,
                author=r.author,
                category=r.post.category,
                body=r.post.body,
                version=r.post.version,
                created_at=r.post.created_at,
                updated_at=r.post.updated_at,
                attachments=[attachment_read(a) for a in r.attachments],
                read_by_me=r.read_by_me,
                unread=r.unread,
            )
            for r in view.recent_replies
        ],
        support_request=SupportRequestRead(
            addressed_user_id=post.addressed_user_id,
            addressee=view.addressee,
            addressed_facility_id=post.addressed_facility_id,
            addressed_facility_name=view.addressed_facility_name,
            status=post.request_status,
            updated_at=post.request_updated_at,
        )
        if post.request_status
        else None,
    )


def mark_reference_only(response: Response) -> None:
    """T4: every answer carrying shared information says it is a reference copy (the UI shows it)."""
    response.headers[REFERENCE_HEADER] = "true"
