"""n5: never to the wrong person, checked whenever a notification is shown or e-mailed; one mail per event."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

from asgi_lifespan import LifespanManager
from identity import tokens
from notify import repository, service
from notify.main import create_app
from notify.settings import Settings
from uuid6 import uuid7
from yui_common import revocations
from yui_common.events.consent import CareTeamMemberRemovedV1, ConsentWithdrawnV1
from yui_common.events.identity import FacilityDisabledV1, UserCreatedV1, UserReinstatedV1, UserSuspendedV1
from yui_common.events.timeline import UserMentionedV1

from services.notify.tests.notify_support import (
    Mailbox,
    choose,
    deliver,
    deliver_and_wait,
    duplicates_seen,
    email_outcomes,
    envelope,
    inbox,
    kinds_of,
    mail_server,  # noqa: F401 - the `mailbox` fixture
    open_stream,
    served,
    team,
)
from tests.support.stack import Stack, eventually


async def post_notice(stack: Stack, subject_id: UUID, *, tenant: str = "demo") -> None:
    async with stack["notify"].sessionmaker() as session, session.begin():
        await service.notify_team(
            session, tenant=tenant, subject_id=subject_id, kind="post.created", source_event_id=uuid7()
        )


class TestLeftTheTeam:
    async def test_n5_who_left_the_care_team_no_longer_sees_what_was_queued_before(
        self, stack: Stack
    ) -> None:
        leaving, staying = stack.staff(), stack.staff()
        subject_id = await team(stack, leaving, staying)
        await post_notice(stack, subject_id)
        assert (await inbox(stack, leaving))["unread"] == 1

        await deliver_and_wait(
            stack,
            envelope(
                CareTeamMemberRemovedV1(subject_id=subject_id, user_id=leaving.user_id, reason="left"),
                subject=subject_id,
            ),
        )
        assert await inbox(stack, leaving) == {"unread": 0, "items": []}
        assert (await inbox(stack, staying))["unread"] == 1


class TestAccountHeld:
    async def test_n5_a_suspended_account_receives_nothing_until_reinstated(self, stack: Stack) -> None:
        member = stack.staff()
        subject_id = await team(stack, member)
        await post_notice(stack, subject_id)
        await deliver_and_wait(
            stack,
            envelope(UserSuspendedV1(user_id=member.user_id, reason="leak", facility_id=member.facility_id)),
        )
        # The API would refuse a suspended user's token anyway; look as the service does at delivery time.
        async with stack["notify"].sessionmaker() as session:
            assert await repository.inbox(session, tenant="demo", user_id=member.user_id, limit=50) == []
            assert await repository.unread_count(session, tenant="demo", user_id=member.user_id) == 0

        await deliver_and_wait(stack, envelope(UserReinstatedV1(user_id=member.user_id)))
        assert await kinds_of(stack, member) == ["account.reinstated", "account.suspended", "post.created"]

    async def test_n5_users_of_a_disabled_facility_receive_nothing(self, stack: Stack) -> None:
        member = stack.staff()
        subject_id = await team(stack, member)
        await post_notice(stack, subject_id)
        # notify knows a user's facility from identity's user-created event.
        await deliver_and_wait(
            stack,
            envelope(UserCreatedV1(user_id=member.user_id, facility_id=member.facility_id, roles=["staff"])),
        )
        await deliver_and_wait(
            stack,
            envelope(
                FacilityDisabledV1(
                    facility_id=member.facility_id, reason="abolished", disabled_at=datetime.now(UTC)
                )
            ),
        )
        async with stack["notify"].sessionmaker() as session:
            assert await repository.unread_count(session, tenant="demo", user_id=member.user_id) == 0


class TestSupportStopped:
    async def test_n5_after_a_withdrawal_only_the_stop_itself_is_shown(self, stack: Stack) -> None:
        member = stack.staff()
        subject_id = await team(stack, member)
        await post_notice(stack, subject_id)
        await deliver_and_wait(
            stack,
            envelope(
                ConsentWithdrawnV1(
                    subject_id=subject_id,
                    consent_id=uuid7(),
                    withdrawal_id=uuid7(),
                    withdrawn_at=datetime.now(UTC),
                ),
                subject=subject_id,
            ),
        )
        await post_notice(stack, subject_id)  # e.g. an event that was still on its way
        assert await kinds_of(stack, member) == ["subject.support_stopped"]


class TestLiveStream:
    async def test_n5_an_open_live_stream_ends_when_the_account_is_suspended(self, stack: Stack) -> None:
        member = stack.staff()
        subject_id = await team(stack, member)
        replica = create_app(Settings(stream_heartbeat_s=0.2))
        async with LifespanManager(replica, startup_timeout=60):
            replica.state.token_verifier.keys.load({"keys": [tokens.public_jwk(stack.signing_key)]})
            async with served(replica) as url, open_stream(url, member) as stream:
                await stream.ready()
                suspension = envelope(UserSuspendedV1(user_id=member.user_id, reason="leak"))
                # Every service's deny list refuses the token; notify's own projection withholds the rest.
                await deliver_and_wait(stack, suspension, queue=revocations.subscription("notify").queue)
                await post_notice(stack, subject_id)
                events = await asyncio.wait_for(stream.events_until_closed(), 120)
        assert [e for e in events if e.get("event") == "notification"] == []


class TestEmail:
    async def test_n5_an_email_queued_before_a_suspension_is_withheld(
        self, stack: Stack, mailbox: Mailbox
    ) -> None:
        member = stack.staff()
        address = f"{member.user_id}@example.jp"
        await choose(stack, member, email=address, channels={"post.mention": "email"})
        subject_id = await team(stack, member)
        # Queued and then suspended in one commit: the sender can only ever see the row after the suspension.
        async with stack["notify"].sessionmaker() as session, session.begin():
            await service.tell(
                session,
                tenant="demo",
                user_ids=[member.user_id],
                kind="post.mention",
                source_event_id=uuid7(),
                subject_id=subject_id,
            )
            await repository.set_account_status(
                session, tenant="demo", user_id=member.user_id, facility_id=None, status="suspended"
            )

        async def settled() -> list[str | None]:
            outcomes = await email_outcomes(stack, member.user_id)
            return outcomes if outcomes and None not in outcomes else []

        assert await eventually(settled, what="the e-mail to be settled") == ["withheld"]
        assert mailbox.to(address) == []

    async def test_n5_a_redelivered_event_never_sends_a_second_email(
        self, stack: Stack, mailbox: Mailbox
    ) -> None:
        author, member = stack.staff(), stack.staff()
        address = f"{member.user_id}@example.jp"
        await choose(stack, member, email=address, channels={"post.mention": "email"})
        subject_id = await team(stack, author, member)
        mention = envelope(
            UserMentionedV1(
                post_id=uuid7(),
                author_id=author.user_id,
                mentioned_user_ids=[member.user_id],
                subject_id=subject_id,
            ),
            subject=subject_id,
        )
        await deliver_and_wait(stack, mention)
        await eventually(lambda: mailbox.to(address), what="the e-mail")

        before = duplicates_seen(mention)
        await deliver(stack, mention)
        await eventually(lambda: duplicates_seen(mention) > before, what="the redelivery to be recognised")
        # Even past the inbox (a handler run twice), the e-mail is keyed by event id and user.
        async with stack["notify"].sessionmaker() as session, session.begin():
            await service.tell(
                session,
                tenant="demo",
                user_ids=[member.user_id],
                kind="post.mention",
                source_event_id=mention.id,
                subject_id=subject_id,
            )

        async def settled() -> bool:
            return await email_outcomes(stack, member.user_id) == ["sent"]

        await eventually(settled, what="the one e-mail to be recorded as sent")
        assert len(mailbox.to(address)) == 1
