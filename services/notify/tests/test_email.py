"""n3: e-mail over SMTP for those who opt in: at once when addressed to them, a daily digest for the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notify import deliveries
from uuid6 import uuid7
from yui_common.events.identity import FacilityApplicationDecidedV1, SignInBackoffStartedV1
from yui_common.events.timeline import PostCreatedV1, UserMentionedV1

from services.notify.tests.notify_support import (
    Mailbox,
    choose,
    deliver,
    deliver_and_wait,
    duplicates_seen,
    email_outcomes,
    envelope,
    kinds_of,
    mail_server,  # noqa: F401 - the `mailbox` fixture
    notify_settings,
    team,
)
from tests.support.stack import Stack, eventually


class TestImmediate:
    async def test_n3_a_mention_is_emailed_at_once_and_says_nothing_about_the_subject(
        self, stack: Stack, mailbox: Mailbox
    ) -> None:
        author, member, in_app_only = stack.staff(), stack.staff(), stack.staff()
        address, other_address = f"{member.user_id}@example.jp", f"{in_app_only.user_id}@example.jp"
        await choose(stack, member, email=address, channels={"post.mention": "email"})
        await choose(stack, in_app_only, email=other_address)  # an address, but e-mail not chosen
        subject_id = await team(stack, author, member, in_app_only)
        post_id = uuid7()
        await deliver_and_wait(
            stack,
            envelope(
                UserMentionedV1(
                    post_id=post_id,
                    author_id=author.user_id,
                    mentioned_user_ids=[member.user_id, in_app_only.user_id],
                    subject_id=subject_id,
                ),
                subject=subject_id,
            ),
        )
        [message] = await eventually(lambda: mailbox.to(address), what="the e-mail")
        body = message.get_content()
        public_url = stack["notify"].settings.public_url
        assert f"{public_url}/notifications" in body
        for personal in (str(subject_id), str(post_id), str(author.user_id), "テスト"):
            assert personal not in body and personal not in str(message["Subject"])
        assert message["Message-ID"]
        assert mailbox.to(other_address) == []
        assert await email_outcomes(stack, in_app_only.user_id) == []


class TestDigest:
    async def test_n3_the_rest_arrives_once_a_day_as_a_digest_with_only_a_count(
        self, stack: Stack, mailbox: Mailbox
    ) -> None:
        author, member = stack.staff(), stack.staff()
        address = f"{member.user_id}@example.jp"
        subject_id = await team(stack, author, member)
        for _ in range(2):
            await deliver_and_wait(
                stack,
                envelope(
                    PostCreatedV1(subject_id=subject_id, post_id=uuid7(), author_id=author.user_id),
                    subject=subject_id,
                ),
            )
        # Chosen after the posts arrived: new posts are not addressed to them, so nothing is sent at once.
        assert await email_outcomes(stack, member.user_id) == []
        await choose(stack, member, email=address, channels={"post.created": "email"}, digest_hour=0)

        async with stack["notify"].sessionmaker() as session, session.begin():
            await deliveries.send_due_digests(session, settings=notify_settings(stack))
        [digest] = await eventually(lambda: mailbox.to(address), what="the digest")
        assert "2" in str(digest["Subject"])
        assert str(subject_id) not in digest.get_content()

        # The worker's periodic job and this second run both find today's digest already sent.
        async with stack["notify"].sessionmaker() as session, session.begin():
            assert await deliveries.send_due_digests(session, settings=notify_settings(stack)) == 0
        assert len(mailbox.to(address)) == 1


class TestApplicant:
    async def test_n3_the_applicant_is_emailed_the_operators_decision_once(
        self, stack: Stack, mailbox: Mailbox
    ) -> None:
        address = f"applicant-{uuid7().hex[:8]}@example.jp"
        decided = envelope(
            FacilityApplicationDecidedV1(
                facility_id=uuid7(),
                facility_name="結訪問看護ステーション",
                decision="rejected",
                administrator_name="結 太郎",
                administrator_email=address,
                reason="対象地域外",
            )
        )
        await deliver_and_wait(stack, decided)
        [message] = await eventually(lambda: mailbox.to(address), what="the applicant's e-mail")
        assert "was not approved" in message.get_content()
        for personal in ("結 太郎", "対象地域外"):
            assert personal not in message.get_content()

        before = duplicates_seen(decided)
        await deliver(stack, decided)
        await eventually(lambda: duplicates_seen(decided) > before, what="the redelivery to be recognised")
        async with stack["notify"].sessionmaker() as session, session.begin():
            assert await deliveries.send_applicant_emails(session, settings=notify_settings(stack)) == 0
        assert len(mailbox.to(address)) == 1


class TestFailedSignIns:
    async def test_sec2_the_user_is_told_in_the_app_and_by_email_when_their_sign_ins_start_to_wait(
        self, stack: Stack, mailbox: Mailbox
    ) -> None:
        emailed, in_app_only = stack.staff(), stack.staff()
        address, other_address = f"{emailed.user_id}@example.jp", f"{in_app_only.user_id}@example.jp"
        await choose(stack, emailed, email=address, channels={"account.sign_in_backoff_started": "email"})
        await choose(stack, in_app_only, email=other_address)  # an address, but e-mail not chosen for this
        blocked_until = datetime.now(UTC) + timedelta(seconds=2)
        for user in (emailed, in_app_only):
            await deliver_and_wait(
                stack,
                envelope(
                    SignInBackoffStartedV1(
                        user_id=user.user_id,
                        facility_id=user.facility_id,
                        consecutive_failures=5,
                        blocked_until=blocked_until,
                    )
                ),
            )

        assert await kinds_of(stack, emailed) == ["account.sign_in_backoff_started"]
        assert await kinds_of(stack, in_app_only) == ["account.sign_in_backoff_started"]
        [message] = await eventually(lambda: mailbox.to(address), what="the e-mail")
        body = message.get_content()
        assert f"{stack['notify'].settings.public_url}/notifications" in body
        for personal in (str(emailed.user_id), str(emailed.facility_id), blocked_until.isoformat()):
            assert personal not in body and personal not in str(message["Subject"])
        assert mailbox.to(other_address) == []
        assert await email_outcomes(stack, in_app_only.user_id) == []
