"""Where a notification leads (issue 10): a mention inside a reply opens its thread at the reply."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.clients.notify import Notification
from uuid6 import uuid7


def notification(kind: str, **fields: object) -> Notification:
    return Notification(id=uuid7(), kind=kind, created_at=datetime.now(UTC), **fields)  # type: ignore[arg-type]


def test_a_mention_inside_a_reply_opens_the_thread_at_the_reply() -> None:
    thread, reply = uuid7(), uuid7()
    mention = notification("post.mention", post_id=reply, parent_id=thread)
    assert mention.path == f"/staff/posts/{thread}#post-{reply}"


def test_a_mention_in_a_post_opens_the_post() -> None:
    post = uuid7()
    assert notification("post.mention", post_id=post).path == f"/staff/posts/{post}"


def test_an_answer_opens_the_request_at_the_answer() -> None:
    request, answer = uuid7(), uuid7()
    answered = notification("support.answered", post_id=request, params={"answer_post_id": str(answer)})
    assert answered.path == f"/staff/posts/{request}#post-{answer}"
