"""yui_common.revocations: the deny list ends in the state of identity's later event, whatever order the
suspension and the reinstatement are applied in, and however their transactions overlap."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from yui_common import revocations
from yui_common.events import Envelope, envelope_for
from yui_common.events.identity import (
    FacilityDisabledV1,
    FacilityReinstatedV1,
    UserReinstatedV1,
    UserSuspendedV1,
)

from libs.common.tests.library_support import Sessions, scalar

TENANT = "revocations-test"


def suspension(user_id: UUID, at: datetime) -> Envelope:
    return envelope_for(UserSuspendedV1(user_id=user_id, reason="test", suspended_at=at), tenant=TENANT)


def reinstatement(user_id: UUID, at: datetime) -> Envelope:
    # A reinstatement carries no time of its own: the envelope's is identity's.
    return envelope_for(UserReinstatedV1(user_id=user_id), tenant=TENANT).model_copy(
        update={"occurred_at": at}
    )


async def apply_in_turn(sessions: Sessions, *envelopes: Envelope) -> None:
    for envelope in envelopes:
        async with sessions() as session, session.begin():
            await revocations.apply(session, envelope)


async def refused_kind(sessions: Sessions, user_id: UUID, *, issued_at: int) -> str | None:
    """What refuses a token of ``user_id`` issued at ``issued_at`` (Unix seconds, as a token's iat)."""
    async with sessions() as session:
        return await revocations.revoked_kind(
            session,
            user_id=str(user_id),
            facility_id=None,
            session_id=None,
            cert_fingerprint=None,
            issued_at=issued_at,
        )


@pytest.fixture
def recent() -> datetime:
    """The first event's time: within KEEP_FOR of now, as older entries are expired (and purged)."""
    return datetime.now(UTC) - timedelta(minutes=10)


class TestLastEventWins:
    async def test_a_suspension_refuses_tokens_issued_before_it(
        self, sessions: Sessions, recent: datetime
    ) -> None:
        user = uuid4()
        await apply_in_turn(sessions, suspension(user, recent))
        assert await refused_kind(sessions, user, issued_at=int(recent.timestamp()) - 60) == "user"
        assert await refused_kind(sessions, user, issued_at=int(recent.timestamp()) + 60) is None

    async def test_a_reinstatement_after_its_suspension_lifts_it(
        self, sessions: Sessions, recent: datetime
    ) -> None:
        user = uuid4()
        await apply_in_turn(
            sessions, suspension(user, recent), reinstatement(user, recent + timedelta(seconds=1))
        )
        assert await refused_kind(sessions, user, issued_at=int(recent.timestamp()) - 60) is None

    async def test_a_reinstatement_applied_before_its_suspension_still_wins(
        self, sessions: Sessions, recent: datetime
    ) -> None:
        user = uuid4()
        await apply_in_turn(
            sessions, reinstatement(user, recent + timedelta(seconds=1)), suspension(user, recent)
        )
        assert await refused_kind(sessions, user, issued_at=int(recent.timestamp()) - 60) is None
        # The reinstatement left a tombstone (not nothing), which the older suspension did not overwrite.
        lifted = await scalar(
            sessions, "SELECT lifted_at IS NOT NULL FROM revoked_principals WHERE value = :v", v=str(user)
        )
        assert lifted is True

    async def test_a_suspension_applied_before_an_older_reinstatement_holds(
        self, sessions: Sessions, recent: datetime
    ) -> None:
        user = uuid4()
        # Suspended, reinstated, suspended again; the first reinstatement arrives last (a delayed retry).
        await apply_in_turn(
            sessions,
            suspension(user, recent),
            suspension(user, recent + timedelta(seconds=2)),
            reinstatement(user, recent + timedelta(seconds=1)),
        )
        assert await refused_kind(sessions, user, issued_at=int(recent.timestamp()) + 1) == "user"

    async def test_a_redelivered_old_suspension_does_not_undo_a_later_reinstatement(
        self, sessions: Sessions, recent: datetime
    ) -> None:
        user = uuid4()
        first = suspension(user, recent)
        await apply_in_turn(sessions, first, reinstatement(user, recent + timedelta(seconds=1)), first)
        assert await refused_kind(sessions, user, issued_at=int(recent.timestamp()) - 60) is None

    async def test_a_facility_follows_the_same_rule(self, sessions: Sessions, recent: datetime) -> None:
        facility = uuid4()
        disabled = envelope_for(
            FacilityDisabledV1(facility_id=facility, reason="suspended", disabled_at=recent), tenant=TENANT
        )
        reinstated = envelope_for(FacilityReinstatedV1(facility_id=facility), tenant=TENANT).model_copy(
            update={"occurred_at": recent + timedelta(seconds=1)}
        )
        await apply_in_turn(sessions, reinstated, disabled)
        async with sessions() as session:
            kind = await revocations.revoked_kind(
                session,
                user_id=str(uuid4()),
                facility_id=str(facility),
                session_id=None,
                cert_fingerprint=None,
                issued_at=int(recent.timestamp()) - 60,
            )
        assert kind is None


class TestConcurrentWriters:
    async def test_a_reinstatement_racing_its_uncommitted_suspension_is_not_lost(
        self, sessions: Sessions, recent: datetime
    ) -> None:
        """The DELETE this replaced found nothing while the suspension's INSERT was uncommitted, and the
        suspension then committed: the user stayed refused although identity had reinstated them."""
        user = uuid4()
        suspension_written = asyncio.Event()
        release_suspension = asyncio.Event()

        async def suspend() -> None:
            async with sessions() as session, session.begin():
                await revocations.apply(session, suspension(user, recent))
                suspension_written.set()
                await release_suspension.wait()

        async def reinstate() -> None:
            await suspension_written.wait()
            async with sessions() as session, session.begin():
                # Blocks on the suspension's uncommitted row until it commits, then applies on top of it.
                await revocations.apply(session, reinstatement(user, recent + timedelta(seconds=1)))

        suspending = asyncio.create_task(suspend())
        reinstating = asyncio.create_task(reinstate())
        await suspension_written.wait()
        await asyncio.sleep(0.2)  # let the reinstatement reach the row lock (the outcome holds either way)
        release_suspension.set()
        await asyncio.wait_for(asyncio.gather(suspending, reinstating), timeout=30)

        assert await refused_kind(sessions, user, issued_at=int(recent.timestamp()) - 60) is None

    async def test_many_concurrent_orderings_end_in_the_latest_events_state(
        self, sessions: Sessions, recent: datetime
    ) -> None:
        users = [uuid4() for _ in range(8)]
        events: list[Envelope] = []
        for number, user in enumerate(users):
            # Suspended, reinstated, suspended again for even users; odd ones end reinstated.
            events += [suspension(user, recent), reinstatement(user, recent + timedelta(seconds=1))]
            if number % 2 == 0:
                events.append(suspension(user, recent + timedelta(seconds=2)))
        events.reverse()  # newest first: the order that used to leave the oldest event's state

        async def apply_one(envelope: Envelope) -> None:
            async with sessions() as session, session.begin():
                await revocations.apply(session, envelope)

        await asyncio.wait_for(asyncio.gather(*(apply_one(e) for e in events)), timeout=60)

        for number, user in enumerate(users):
            expected = "user" if number % 2 == 0 else None
            assert await refused_kind(sessions, user, issued_at=int(recent.timestamp()) + 1) == expected, (
                number
            )
