"""Issue 10: a mention inside a reply leads to its thread at the reply, and the answer to a support request and
its adoption quote the post they are about."""

from __future__ import annotations

from uuid import UUID

from uuid6 import uuid7
from yui_common.events.timeline import (
    SupportRequestAnsweredV1,
    SupportRequestDecidedV1,
    UserMentionedV1,
)

from services.notify.tests.notify_support import deliver_and_wait, envelope, inbox, team
from tests.support.stack import Stack, Staff


async def mentioned(
    stack: Stack, author: Staff, reader: Staff, subject_id: UUID, *, parent_id: UUID | None
) -> UUID:
    post_id = uuid7()
    data = UserMentionedV1(
        post_id=post_id,
        author_id=author.user_id,
        mentioned_user_ids=[reader.user_id],
        subject_id=subject_id,
        excerpt="確認をお願いします",
        parent_id=parent_id,
    )
    await deliver_and_wait(stack, envelope(data, subject=subject_id))
    return post_id


class TestMentionInAReply:
    async def test_a_mention_inside_a_reply_carries_its_thread(self, stack: Stack) -> None:
        author, reader = stack.staff(), stack.staff()
        subject_id = await team(stack, author, reader)
        thread_id = uuid7()
        reply_id = await mentioned(stack, author, reader, subject_id, parent_id=thread_id)
        [item] = (await inbox(stack, reader))["items"]
        assert (item["kind"], item["post_id"], item["parent_id"]) == (
            "post.mention",
            str(reply_id),
            str(thread_id),
        )

    async def test_a_mention_in_a_post_and_an_event_from_before_parent_id_open_the_post(
        self, stack: Stack
    ) -> None:
        author, reader = stack.staff(), stack.staff()
        subject_id = await team(stack, author, reader)
        post_id = await mentioned(stack, author, reader, subject_id, parent_id=None)
        [item] = (await inbox(stack, reader))["items"]
        assert (item["post_id"], item["parent_id"]) == (str(post_id), None)


class TestSupportRequestExcerpts:
    async def test_the_answer_and_the_decision_quote_their_posts(self, stack: Stack) -> None:
        requester, addressee = stack.staff(), stack.staff()
        subject_id = await team(stack, requester, addressee)
        request_id, answer_id = uuid7(), uuid7()
        for data in (
            SupportRequestAnsweredV1(
                subject_id=subject_id,
                post_id=request_id,
                answer_post_id=answer_id,
                answered_by=addressee.user_id,
                requester_id=requester.user_id,
                excerpt="洗浄後に軟膏を塗布してください。",
            ),
            SupportRequestDecidedV1(
                subject_id=subject_id,
                post_id=request_id,
                decision="adopted",
                decided_by=requester.user_id,
                addressed_user_id=addressee.user_id,
                excerpt="褥瘡の処置についてご意見をください。",
            ),
        ):
            await deliver_and_wait(stack, envelope(data, subject=subject_id))
        [answered] = (await inbox(stack, requester))["items"]
        assert (answered["kind"], answered["excerpt"]) == (
            "support.answered",
            "洗浄後に軟膏を塗布してください。",
        )
        assert answered["params"]["answer_post_id"] == str(answer_id)
        [decided] = (await inbox(stack, addressee))["items"]
        assert (decided["kind"], decided["excerpt"]) == (
            "support.decided",
            "褥瘡の処置についてご意見をください。",
        )
