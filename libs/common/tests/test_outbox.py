"""yui_common.outbox: events live and die with the business transaction; the relay publishes with confirms."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError
from sqlalchemy import event as orm_event
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from uuid6 import uuid7
from yui_common import outbox
from yui_common.bus.topology import declare_exchange
from yui_common.db import asyncpg_dsn
from yui_common.events import Envelope
from yui_common.outbox import OutboxRelay

from libs.common.tests.library_support import (
    WAIT_S,
    Broker,
    LibraryPingV1,
    LibrarySettings,
    Sessions,
    eventually,
    scalar,
)


@dataclass
class Route:
    """A fresh exchange for one test and a queue receiving the test event from it."""

    exchange: str
    queue: str
    channel: aio_pika.abc.AbstractChannel


@pytest.fixture(autouse=True)
async def empty_outbox(sessions: Sessions) -> None:
    # A relay sweeps every unpublished row, whoever wrote it: each test starts from an empty outbox.
    async with sessions() as session, session.begin():
        await session.execute(text("TRUNCATE outbox"))


@pytest.fixture
async def route(library_settings: LibrarySettings) -> AsyncIterator[Route]:
    name = f"library.outbox.{uuid7()}"
    connection = await aio_pika.connect_robust(library_settings.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await declare_exchange(channel, name)
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, routing_key=LibraryPingV1.event_type)
        try:
            yield Route(exchange=name, queue=name, channel=channel)
        finally:
            with contextlib.suppress(Exception):
                await queue.delete(if_unused=False, if_empty=False)
                await exchange.delete()


def relay_for(
    library_settings: LibrarySettings, sessions: Sessions, route: Route, **options: Any
) -> OutboxRelay:
    return OutboxRelay(
        sessionmaker=sessions,
        listen_dsn=asyncpg_dsn(library_settings.dsn),
        channel=route.channel,
        exchange_name=route.exchange,
        **options,
    )


async def stage(sessions: Sessions, scenario: str, count: int = 1) -> list[Envelope]:
    async with sessions() as session, session.begin():
        return [
            await outbox.add_event(session, LibraryPingV1(scenario=scenario, sequence=n), tenant="demo")
            for n in range(count)
        ]


async def unpublished(sessions: Sessions) -> int:
    return int(await scalar(sessions, "SELECT count(*) FROM outbox WHERE published_at IS NULL"))


async def published_ids(broker: Broker, queue: str) -> list[UUID]:
    return [UUID(str(message.message_id)) for message in await broker.take_all(queue)]


class TestStagingInTheBusinessTransaction:
    async def test_a_staged_event_is_invisible_to_others_until_its_transaction_commits(
        self, sessions: Sessions
    ) -> None:
        async with sessions() as session, session.begin():
            envelope = await outbox.add_event(session, LibraryPingV1(scenario="visible"), tenant="demo")
            assert await scalar(sessions, "SELECT count(*) FROM outbox") == 0

        async with sessions() as session:
            row = (
                await session.execute(
                    text("SELECT event_type, envelope, published_at FROM outbox WHERE id = :id"),
                    {"id": envelope.id},
                )
            ).one()
        assert row.event_type == "library.ping.v1"
        assert Envelope.model_validate(row.envelope) == envelope
        assert row.published_at is None

    async def test_rolling_back_the_business_change_discards_its_events(self, sessions: Sessions) -> None:
        class BusinessRuleBroken(Exception):
            pass

        with pytest.raises(BusinessRuleBroken):
            async with sessions() as session, session.begin():
                await session.execute(text("INSERT INTO ledger (scenario) VALUES ('rolled-back')"))
                await outbox.add_event(session, LibraryPingV1(scenario="rolled-back"), tenant="demo")
                raise BusinessRuleBroken

        assert await scalar(sessions, "SELECT count(*) FROM ledger WHERE scenario = 'rolled-back'") == 0
        assert await scalar(sessions, "SELECT count(*) FROM outbox") == 0

    async def test_the_business_change_and_its_event_commit_together(self, sessions: Sessions) -> None:
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO ledger (scenario) VALUES ('committed')"))
            await outbox.add_event(session, LibraryPingV1(scenario="committed"), tenant="demo")

        assert await scalar(sessions, "SELECT count(*) FROM ledger WHERE scenario = 'committed'") == 1
        assert await unpublished(sessions) == 1


class TestStagingAtCommit:
    """perf3: a transaction's events reach the outbox in one statement when it commits (issue 13's writer)."""

    async def test_perf3_a_transactions_events_are_written_in_one_statement_when_it_commits(
        self, sessions: Sessions, library_engine: AsyncEngine
    ) -> None:
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if "INTO outbox" in statement:
                statements.append(statement)

        orm_event.listen(library_engine.sync_engine, "before_cursor_execute", seen)
        try:
            envelopes = await stage(sessions, "one statement", count=100)
        finally:
            orm_event.remove(library_engine.sync_engine, "before_cursor_execute", seen)
        assert len(statements) == 1
        ids = await scalar(sessions, "SELECT array_agg(id ORDER BY id) FROM outbox")
        assert ids == sorted(envelope.id for envelope in envelopes)

    async def test_perf3_events_staged_inside_a_savepoint_that_rolls_back_are_dropped_and_the_rest_kept(
        self, sessions: Sessions
    ) -> None:
        class Refused(Exception):
            pass

        async with sessions() as session, session.begin():
            before = await outbox.add_event(session, LibraryPingV1(scenario="before"), tenant="demo")
            with contextlib.suppress(Refused):
                async with session.begin_nested():
                    await outbox.add_event(session, LibraryPingV1(scenario="inside"), tenant="demo")
                    raise Refused
            async with session.begin_nested():
                kept = await outbox.add_event(session, LibraryPingV1(scenario="released"), tenant="demo")
            after = await outbox.add_event(session, LibraryPingV1(scenario="after"), tenant="demo")

        scenarios = await scalar(
            sessions, "SELECT array_agg(envelope->'data'->>'scenario' ORDER BY id) FROM outbox"
        )
        assert sorted(scenarios) == ["after", "before", "released"]
        staged = [before.id, kept.id, after.id]
        assert await scalar(sessions, "SELECT count(*) FROM outbox WHERE id = ANY(:ids)", ids=staged) == 3

    async def test_perf3_a_savepoint_whose_release_fails_leaves_the_enclosing_transactions_events_pending(
        self, sessions: Sessions
    ) -> None:
        """A savepoint's release flushes its objects; when that flush fails the savepoint rolls back, and the
        events staged before it must not go with it: they wait for the outermost commit."""

        class Base(DeclarativeBase):
            pass

        class Ledger(Base):
            __tablename__ = "ledger"
            id: Mapped[int] = mapped_column(primary_key=True)
            scenario: Mapped[str]

        async with sessions() as session, session.begin():
            kept = await outbox.add_event(
                session, LibraryPingV1(scenario="before the savepoint"), tenant="demo"
            )
            with pytest.raises(IntegrityError):
                async with session.begin_nested():
                    session.add(Ledger(scenario=None))  # type: ignore[arg-type] - NOT NULL: the release's flush fails
        assert await scalar(sessions, "SELECT count(*) FROM outbox WHERE id = :id", id=kept.id) == 1

    async def test_perf3_an_event_before_any_statement_commits_with_a_plain_commit(
        self, sessions: Sessions
    ) -> None:
        async with sessions() as session:
            await outbox.add_event(session, LibraryPingV1(scenario="first"), tenant="demo")
            await session.commit()
        async with sessions() as session:
            await outbox.add_event(session, LibraryPingV1(scenario="first"), tenant="demo")
            await session.execute(text("SELECT 1"))
            await outbox.add_event(session, LibraryPingV1(scenario="second"), tenant="demo")
            await session.commit()
        assert await unpublished(sessions) == 3

    async def test_perf3_a_rolled_back_transactions_pending_events_never_reach_a_later_one(
        self, sessions: Sessions
    ) -> None:
        class Refused(Exception):
            pass

        async with sessions() as session:
            with contextlib.suppress(Refused):
                async with session.begin():
                    await session.execute(text("SELECT 1"))
                    await outbox.add_event(session, LibraryPingV1(scenario="rolled back"), tenant="demo")
                    raise Refused
            async with session.begin():
                await outbox.add_event(session, LibraryPingV1(scenario="committed"), tenant="demo")
        scenarios = await scalar(sessions, "SELECT array_agg(envelope->'data'->>'scenario') FROM outbox")
        assert scenarios == ["committed"]


class TestRelayPublishing:
    async def test_the_relay_publishes_each_row_once_as_a_persistent_message_and_marks_it_published(
        self, library_settings: LibrarySettings, sessions: Sessions, route: Route, broker: Broker
    ) -> None:
        staged = await stage(sessions, "relayed", count=3)
        relay = relay_for(library_settings, sessions, route)

        assert await relay.sweep_once() == 3
        assert await relay.sweep_once() == 0

        messages = await broker.take_all(route.queue)
        assert sorted(UUID(str(m.message_id)) for m in messages) == sorted(e.id for e in staged)
        for message in messages:
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            assert message.type == "library.ping.v1"
            assert message.routing_key == "library.ping.v1"
            assert Envelope.model_validate_json(message.body) in staged
        assert await unpublished(sessions) == 0

    async def test_the_relay_publishes_the_body_and_headers_stored_at_write_time_as_they_are(
        self, library_settings: LibrarySettings, sessions: Sessions, route: Route, broker: Broker
    ) -> None:
        [envelope] = await stage(sessions, "verbatim")
        # A body no serialiser of ours would produce (spacing, key order): only a verbatim relay sends it.
        stored = (
            f'{{ "tenant": "demo", "id": "{envelope.id}", "type": "library.ping.v1", "source": "library", '
            f'"occurred_at": "{envelope.occurred_at.isoformat()}", "data": {{"sequence": 0, "scenario": "verbatim"}} }}'
        )
        async with sessions() as session, session.begin():
            await session.execute(
                text("UPDATE outbox SET envelope = CAST(:body AS json) WHERE id = :id"),
                {"body": stored, "id": envelope.id},
            )
            headers = (
                await session.execute(text("SELECT headers FROM outbox WHERE id = :id"), {"id": envelope.id})
            ).scalar_one()
        assert headers["tenant"] == "demo"

        assert await relay_for(library_settings, sessions, route).sweep_once() == 1

        [message] = await broker.take_all(route.queue)
        assert message.body == stored.encode()
        assert Envelope.model_validate_json(message.body) == envelope
        assert (message.headers or {})["tenant"] == "demo"
        assert (message.message_id, message.app_id) == (str(envelope.id), "library")

    async def test_a_row_whose_publish_the_broker_refuses_to_confirm_stays_unpublished(
        self, library_settings: LibrarySettings, sessions: Sessions, route: Route, broker: Broker
    ) -> None:
        # A full queue that rejects new messages makes the broker answer the publish with a nack.
        full = await route.channel.declare_queue(
            f"{route.queue}.full", arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
        )
        await full.bind(route.exchange, routing_key=LibraryPingV1.event_type)
        [envelope] = await stage(sessions, "refused")
        relay = relay_for(library_settings, sessions, route)

        with pytest.raises(DeliveryError):
            await relay.sweep_once()
        assert await unpublished(sessions) == 1

        # Once the broker accepts it, the same row is published: nothing was lost in between.
        await full.delete(if_unused=False, if_empty=False)
        assert await relay.sweep_once() == 1
        assert await unpublished(sessions) == 0
        assert envelope.id in await published_ids(broker, route.queue)

    async def test_a_relay_whose_broker_channel_is_gone_leaves_every_row_for_the_next_sweep(
        self, library_settings: LibrarySettings, sessions: Sessions, route: Route
    ) -> None:
        await stage(sessions, "channel-gone", count=2)
        connection = await aio_pika.connect(library_settings.amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        relay = OutboxRelay(
            sessionmaker=sessions,
            listen_dsn=asyncpg_dsn(library_settings.dsn),
            channel=channel,
            exchange_name=route.exchange,
        )
        await connection.close()

        with pytest.raises(Exception):  # noqa: B017 - whichever error aio-pika raises for a closed channel
            await relay.sweep_once()
        assert await unpublished(sessions) == 2

    async def test_purging_deletes_published_rows_and_never_an_unpublished_one(
        self, library_settings: LibrarySettings, sessions: Sessions, route: Route
    ) -> None:
        relay = relay_for(library_settings, sessions, route, keep_published_s=0.0)
        [published] = await stage(sessions, "purged")
        assert await relay.sweep_once() == 1
        [waiting] = await stage(sessions, "kept")

        await relay.purge_published()

        async with sessions() as session:
            left = (await session.execute(text("SELECT id FROM outbox"))).scalars().all()
        assert list(left) == [waiting.id]
        assert published.id not in left


class HeldExchange:
    """The real exchange, except that each publish first waits for the test to let it through."""

    def __init__(self, exchange: aio_pika.abc.AbstractExchange, holding: asyncio.Event, gate: asyncio.Event):
        self._exchange = exchange
        self._holding = holding
        self._gate = gate

    async def publish(self, message: aio_pika.abc.AbstractMessage, routing_key: str, **options: Any) -> Any:
        self._holding.set()
        await self._gate.wait()
        return await self._exchange.publish(message, routing_key=routing_key, **options)


class HeldChannel:
    """A relay's channel whose publishes wait at a gate: the relay holds its batch's row locks meanwhile."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel) -> None:
        self._channel = channel
        self.holding = asyncio.Event()
        self.gate = asyncio.Event()

    async def get_exchange(self, name: str, *, ensure: bool = True) -> HeldExchange:
        return HeldExchange(await self._channel.get_exchange(name, ensure=ensure), self.holding, self.gate)


class TestSeveralRelays:
    async def test_a_second_relay_skips_the_rows_another_relay_is_publishing_and_publishes_the_rest(
        self, library_settings: LibrarySettings, sessions: Sessions, route: Route, broker: Broker
    ) -> None:
        staged = await stage(sessions, "two-relays", count=10)
        held = HeldChannel(route.channel)
        first = relay_for(library_settings, sessions, replace_channel(route, cast(Any, held)), batch_size=4)
        second = relay_for(library_settings, sessions, route)

        first_sweep = asyncio.create_task(first.sweep_once())
        try:
            await asyncio.wait_for(held.holding.wait(), WAIT_S)
            # Without SKIP LOCKED the second relay would wait here for the first one's transaction.
            assert await asyncio.wait_for(second.sweep_once(), WAIT_S) == 6
            assert not first_sweep.done()
        finally:
            # Let the first relay finish whatever happened, so its row locks never outlive this test.
            held.gate.set()
            first_published = await asyncio.wait_for(first_sweep, WAIT_S)
        assert first_published == 4

        assert sorted(await published_ids(broker, route.queue)) == sorted(e.id for e in staged)
        assert await unpublished(sessions) == 0


def replace_channel(route: Route, channel: aio_pika.abc.AbstractChannel) -> Route:
    return Route(exchange=route.exchange, queue=route.queue, channel=channel)


async def listening(sessions: Sessions) -> bool:
    """A connection of this database is listening (its last statement was LISTEN)."""
    return bool(
        await scalar(
            sessions,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE 'LISTEN %'",
        )
    )


class TestRunningRelay:
    async def test_a_backlog_of_many_batches_is_published_once_each_with_batches_in_flight(
        self, library_settings: LibrarySettings, sessions: Sessions, route: Route, broker: Broker
    ) -> None:
        staged = await stage(sessions, "backlog", count=45)
        relay = relay_for(library_settings, sessions, route, batch_size=4, max_batches_in_flight=3)
        running = asyncio.create_task(relay.run())
        try:
            await eventually(lambda: unpublished_is(sessions, 0), what="the backlog to be published")
            # The last batch's commit may be seen before its sweep has counted it.
            await eventually(lambda: counted(relay, 45), what="the relay to count the backlog")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        assert sorted(await published_ids(broker, route.queue)) == sorted(e.id for e in staged)
        assert relay.published_total == 45


async def counted(relay: OutboxRelay, count: int) -> bool:
    return relay.published_total >= count


async def unpublished_is(sessions: Sessions, count: int) -> bool:
    return await unpublished(sessions) == count


class TestWakingOnNotify:
    async def test_a_running_relay_publishes_a_committed_event_without_waiting_for_its_poll(
        self, library_settings: LibrarySettings, sessions: Sessions, route: Route, broker: Broker
    ) -> None:
        # An hour between polls: within the test only the commit's NOTIFY can wake the relay.
        relay = relay_for(library_settings, sessions, route, poll_interval_s=3600.0)
        running = asyncio.create_task(relay.run())
        try:
            await eventually(lambda: listening(sessions), what="the relay to LISTEN")
            # The listener sweeps once when it connects, which may be what publishes the first event; the
            # second is committed after the first was published, so only its NOTIFY can bring the relay round.
            for scenario in ("first-notify", "second-notify"):
                [envelope] = await stage(sessions, scenario)

                async def published(envelope: Envelope = envelope) -> bool:
                    return bool(
                        await scalar(
                            sessions,
                            "SELECT published_at IS NOT NULL FROM outbox WHERE id = :id",
                            id=envelope.id,
                        )
                    )

                await eventually(published, what=f"the {scenario} event to be published")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        assert len(await published_ids(broker, route.queue)) == 2
