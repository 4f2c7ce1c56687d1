"""yui_common.inbox: a message is claimed at most once per consumer, in the handler's own transaction."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest
from sqlalchemy import text
from uuid6 import uuid7
from yui_common import inbox

from libs.common.tests.library_support import WAIT_S, Sessions, eventually, scalar

EVENT_TYPE = "library.ping.v1"


async def claim_in_own_transaction(sessions: Sessions, consumer: str, message_id: UUID) -> bool:
    async with sessions() as session, session.begin():
        return await inbox.claim(session, consumer=consumer, message_id=message_id, event_type=EVENT_TYPE)


async def waiting_on_a_lock(sessions: Sessions) -> bool:
    """Some other connection of this database is blocked on a row lock (the inbox's primary key)."""
    return bool(
        await scalar(
            sessions,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO inbox%'",
        )
    )


class TestClaim:
    async def test_first_claim_succeeds_and_a_duplicate_in_the_same_transaction_is_already_handled(
        self, sessions: Sessions
    ) -> None:
        message_id = uuid7()
        async with sessions() as session, session.begin():
            first = await inbox.claim(session, consumer="c", message_id=message_id, event_type=EVENT_TYPE)
            second = await inbox.claim(session, consumer="c", message_id=message_id, event_type=EVENT_TYPE)
        assert (first, second) == (True, False)

    async def test_a_committed_claim_makes_a_later_duplicate_already_handled(
        self, sessions: Sessions
    ) -> None:
        message_id = uuid7()
        assert await claim_in_own_transaction(sessions, "c", message_id) is True
        assert await claim_in_own_transaction(sessions, "c", message_id) is False
        claims = await scalar(sessions, "SELECT count(*) FROM inbox WHERE message_id = :m", m=message_id)
        assert claims == 1

    async def test_a_rolled_back_claim_can_be_claimed_again(self, sessions: Sessions) -> None:
        message_id = uuid7()

        class HandlerFailed(Exception):
            pass

        with pytest.raises(HandlerFailed):
            async with sessions() as session, session.begin():
                assert await inbox.claim(session, consumer="c", message_id=message_id, event_type=EVENT_TYPE)
                raise HandlerFailed

        assert await claim_in_own_transaction(sessions, "c", message_id) is True

    async def test_each_consumer_claims_the_same_message_for_itself(self, sessions: Sessions) -> None:
        message_id = uuid7()
        assert await claim_in_own_transaction(sessions, "timeline.consent-events", message_id) is True
        assert await claim_in_own_transaction(sessions, "notify.consent-events", message_id) is True
        assert await claim_in_own_transaction(sessions, "notify.consent-events", message_id) is False


class TestClaimingABatch:
    async def test_one_statement_claims_the_unseen_messages_and_skips_those_already_handled(
        self, sessions: Sessions
    ) -> None:
        seen, fresh, also_fresh = uuid7(), uuid7(), uuid7()
        assert await claim_in_own_transaction(sessions, "c", seen) is True
        async with sessions() as session, session.begin():
            claimed = await inbox.claim_many(
                session,
                consumer="c",
                messages=[(seen, EVENT_TYPE), (fresh, EVENT_TYPE), (also_fresh, EVENT_TYPE)],
            )
        assert claimed == {fresh, also_fresh}
        assert await claim_in_own_transaction(sessions, "c", fresh) is False

    async def test_two_copies_of_one_message_in_a_batch_are_claimed_once(self, sessions: Sessions) -> None:
        message_id = uuid7()
        async with sessions() as session, session.begin():
            claimed = await inbox.claim_many(
                session, consumer="c", messages=[(message_id, EVENT_TYPE), (message_id, EVENT_TYPE)]
            )
        assert claimed == {message_id}
        claims = await scalar(sessions, "SELECT count(*) FROM inbox WHERE message_id = :m", m=message_id)
        assert claims == 1

    async def test_a_rolled_back_batch_claim_leaves_every_message_claimable(self, sessions: Sessions) -> None:
        ids = [uuid7(), uuid7()]

        class HandlerFailed(Exception):
            pass

        with pytest.raises(HandlerFailed):
            async with sessions() as session, session.begin():
                await inbox.claim_many(session, consumer="c", messages=[(i, EVENT_TYPE) for i in ids])
                raise HandlerFailed

        assert [await claim_in_own_transaction(sessions, "c", i) for i in ids] == [True, True]


class TestConcurrentDuplicates:
    """Two copies of one message handled at once by two replicas: the second waits for the first's outcome."""

    async def test_a_concurrent_duplicate_waits_and_is_already_handled_once_the_first_commits(
        self, sessions: Sessions
    ) -> None:
        message_id = uuid7()
        async with sessions() as first, first.begin():
            assert await inbox.claim(first, consumer="c", message_id=message_id, event_type=EVENT_TYPE)
            duplicate = asyncio.create_task(claim_in_own_transaction(sessions, "c", message_id))
            await eventually(lambda: waiting_on_a_lock(sessions), what="the duplicate to wait on the claim")
            assert not duplicate.done()
        assert await asyncio.wait_for(duplicate, WAIT_S) is False

    async def test_a_concurrent_duplicate_takes_over_when_the_first_rolls_back(
        self, sessions: Sessions
    ) -> None:
        message_id = uuid7()
        async with sessions() as first:
            await first.begin()
            assert await inbox.claim(first, consumer="c", message_id=message_id, event_type=EVENT_TYPE)
            duplicate = asyncio.create_task(claim_in_own_transaction(sessions, "c", message_id))
            await eventually(lambda: waiting_on_a_lock(sessions), what="the duplicate to wait on the claim")
            await first.rollback()
        assert await asyncio.wait_for(duplicate, WAIT_S) is True
        async with sessions() as session:
            rows = (
                await session.execute(
                    text("SELECT consumer FROM inbox WHERE message_id = :m"), {"m": message_id}
                )
            ).all()
        assert [row.consumer for row in rows] == ["c"]
