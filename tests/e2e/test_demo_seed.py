"""`make run`'s demo seed: idempotent, it announces the demo accounts as identity announces any other, and it
leaves a living demo: two patients with a week of posts between four colleagues, photos, a support request
answered, replies and read marks, the network's terms and support hours."""

from __future__ import annotations

import asyncio
import functools
import importlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from yui_common import demo
from yui_common.db import create_engine, create_sessionmaker
from yui_common.worker import Worker

from tests.support.infrastructure import REPO, Infrastructure
from tests.support.stack import SERVICES, Stack, eventually, reset_database, service_module

JAPAN = ZoneInfo("Asia/Tokyo")


class TestDemoSeed:
    async def test_seeding_twice_creates_each_account_once_with_its_user_created_event(
        self, infra: Infrastructure
    ) -> None:
        from identity.seed import seed
        from identity.settings import Settings
        from yui_common.migrations import migrate

        # A database of its own: the demo network allows password-only sign-in, which the shared stack's
        # identity tests must not inherit.
        settings = Settings(database_prefix=f"{infra.database_prefix}seed_")
        await reset_database(settings)
        await asyncio.to_thread(migrate, REPO / "services" / "identity", settings)
        assert await seed(settings) == 0
        assert await seed(settings) == 0

        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                users = await session.execute(
                    text("SELECT id FROM users WHERE tenant = :t"), {"t": demo.TENANT}
                )
                announced = await session.execute(
                    text(
                        "SELECT (envelope->'data'->>'user_id')::uuid FROM outbox "
                        "WHERE event_type = 'identity.user-created.v1'"
                    )
                )
                user_ids = sorted(row[0] for row in users)
                assert user_ids == sorted(user.user_id for user in demo.USERS.values())
                assert sorted(row[0] for row in announced) == user_ids
        finally:
            await engine.dispose()
            await reset_database(settings)


@pytest.fixture
async def demo_stack(infra: Infrastructure, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stack]:
    """The whole stack with workers, in databases and a RabbitMQ virtual host of its own: the demo network's
    data must not reach the shared stack's tests (they use the tenant "demo" too)."""
    vhost = f"{infra.amqp_vhost.strip('/') or 'yui'}-demo-seed"
    infra.control_broker("delete_vhost", vhost)
    code, output = infra.control_broker("add_vhost", vhost)
    assert code == 0, output
    code, output = infra.control_broker("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    assert code == 0, output
    monkeypatch.setenv("YUI_DATABASE_PREFIX", f"{infra.database_prefix}demo_")
    monkeypatch.setenv("YUI_AMQP_URL", f"{infra.amqp_url.rsplit('/', 1)[0]}/{quote(vhost, safe='')}")
    stack = Stack()
    try:
        # Without workers: `make run` seeds identity, consent and portal before any process runs.
        await stack.start(with_workers=False)
        yield stack
    finally:
        for handle in stack.services.values():
            if handle.worker is not None:
                await handle.worker.stop()
        await stack.close()
        for service in SERVICES:
            if service in stack.services:
                await reset_database(stack[service].settings)
        infra.control_broker("delete_vhost", vhost)


async def run_seed(stack: Stack, service: str) -> None:
    seed_command = importlib.import_module(f"{service}.seed").seed
    assert await seed_command(stack[service].settings) == 0, f"{service} seed failed"


async def start_workers(stack: Stack) -> None:
    for name in SERVICES:
        worker: Worker = service_module(name, "worker").build_worker(stack[name].settings)
        await worker.start()
        stack[name].worker = worker


async def seed_like_make_run(stack: Stack) -> None:
    """What `make run` runs: identity, consent and portal before the processes start, timeline once they run."""
    for service in ("identity", "consent", "portal"):
        await run_seed(stack, service)
    if stack["timeline"].worker is None:
        await start_workers(stack)
    await run_seed(stack, "timeline")


async def rows(stack: Stack, service: str, sql: str, **params: Any) -> list[Any]:
    async with stack[service].sessionmaker() as session:
        return list((await session.execute(text(sql), params)).all())


# Everything the seed writes, table by table: a second run must leave every count as it was.
COUNTED = {
    "identity": ("users", "facilities", "outbox"),
    "consent": ("subjects", "consents", "care_team_members", "care_team_invitations", "outbox"),
    "timeline": ("posts", "post_versions", "attachments", "read_marks", "outbox"),
    "portal": ("terms_versions", "notices", "portal_settings", "outbox"),
}


async def counts(stack: Stack) -> dict[str, int]:
    found = {}
    for service, tables in COUNTED.items():
        for table in tables:
            found[f"{service}.{table}"] = (await rows(stack, service, f"SELECT count(*) FROM {table}"))[0][0]
    return found


class TestLivingDemo:
    async def test_demo_two_patients_have_a_week_of_conversation_and_a_second_seed_adds_nothing(
        self, demo_stack: Stack
    ) -> None:
        stack = demo_stack
        seeded_at = datetime.now(UTC)
        await seed_like_make_run(stack)

        staff_ids = {demo.USERS[login].user_id for login in demo.STAFF}
        for subject_id in demo.SUBJECTS:
            posts = await rows(
                stack,
                "timeline",
                "SELECT id, parent_id, author_id, created_at, request_status, addressed_user_id, category "
                "FROM posts WHERE subject_id = :s",
                s=subject_id,
            )
            first_posts = [p for p in posts if p.parent_id is None]
            replies = [p for p in posts if p.parent_id is not None]
            assert len(first_posts) >= 10
            assert len(replies) >= 3
            # A week in Japan's daytime, by all four colleagues, in several categories.
            days = {p.created_at.astimezone(JAPAN).date() for p in posts}
            assert len(days) >= 5
            assert all(seeded_at - timedelta(days=8) < p.created_at < seeded_at for p in posts)
            assert all(8 <= p.created_at.astimezone(JAPAN).hour < 20 for p in posts)
            assert {p.author_id for p in posts} == staff_ids
            assert len({p.category for p in posts}) >= 4

            # A support request to the doctor, answered by the doctor in its thread.
            requests = [p for p in first_posts if p.request_status is not None]
            assert requests and all(r.request_status in ("answered", "adopted") for r in requests)
            for request in requests:
                assert any(
                    r.parent_id == request.id and r.author_id == request.addressed_user_id for r in replies
                )

            # A photo on a post, stored and signed.
            photos = await rows(
                stack,
                "timeline",
                "SELECT a.content_type, a.created_at FROM attachments a WHERE a.subject_id = :s "
                "AND a.post_id IS NOT NULL",
                s=subject_id,
            )
            assert photos and all(p.content_type == "image/jpeg" for p in photos)

            # Read marks after each post; the newest posts still unread for the doctor and the nurse.
            marks = await rows(
                stack,
                "timeline",
                "SELECT m.user_id, m.read_at, p.created_at, p.author_id FROM read_marks m "
                "JOIN posts p ON p.id = m.post_id WHERE p.subject_id = :s",
                s=subject_id,
            )
            assert len(marks) >= len(posts)
            assert all(m.created_at <= m.read_at < seeded_at and m.user_id != m.author_id for m in marks)
            for login in ("doctor", "nurse"):
                me = demo.USERS[login].user_id
                read = {
                    m.post_id
                    for m in await rows(
                        stack, "timeline", "SELECT post_id FROM read_marks WHERE user_id = :u", u=me
                    )
                }
                unread = [p for p in posts if p.author_id != me and p.id not in read]
                assert unread, f"{login} has nothing unread on {subject_id}"

        # The backdated posts and photos still verify (T5): signed again for their time.
        await self.assert_intact(stack)

        from portal.seed import NATIONAL_HOLIDAYS_2027

        # Terms published by the operator, support hours with the year-end closing and dated holidays.
        terms = await rows(stack, "portal", "SELECT version, title, body, effective_at FROM terms_versions")
        assert [(t.version, t.title) for t in terms] == [(demo.TERMS_VERSION, "結ネット 利用規約")]
        assert "第1条" in terms[0].body and terms[0].effective_at < seeded_at
        hours = await rows(
            stack, "portal", "SELECT support_closed_periods, support_holidays FROM portal_settings"
        )
        assert hours[0].support_closed_periods == ["12-29..01-03"]
        assert hours[0].support_holidays == [d.isoformat() for d in NATIONAL_HOLIDAYS_2027]

        # The people, known by name everywhere through identity's events; notifications through the bus.
        for login, person in demo.USERS.items():
            known = await eventually(
                functools.partial(
                    rows,
                    stack,
                    "timeline",
                    "SELECT name, name_kana, profession, facility_name FROM people WHERE user_id = :u",
                    u=person.user_id,
                ),
                what=f"timeline knows {login} by name",
            )
            assert tuple(known[0]) == (
                person.name,
                person.name_kana,
                person.profession,
                demo.FACILITIES[person.facility_id].name,
            )
        await eventually(
            lambda: rows(
                stack,
                "notify",
                "SELECT 1 FROM notifications WHERE user_id = :u AND subject_id = :s",
                u=demo.USERS["doctor"].user_id,
                s=demo.SUBJECT_2,
            ),
            what="the doctor is notified of the demo posts",
        )

        # The network announced as the contractor's networks are: every service knows its rules.
        for service in ("consent", "timeline", "portal"):
            await eventually(
                functools.partial(
                    rows, stack, service, "SELECT 1 FROM network_states WHERE tenant = :t", t=demo.TENANT
                ),
                what=f"{service} knows the demo network",
            )

        # The patients announced by name as registering announces them.
        announced = await rows(
            stack,
            "consent",
            "SELECT (envelope::jsonb)->'data'->>'name' FROM outbox WHERE event_type = 'consent.subject-changed.v1'",
        )
        assert sorted(name for (name,) in announced) == sorted(s.name for s in demo.SUBJECTS.values())

        # A second `make run` adds nothing: no row, no event.
        before = await counts(stack)
        await seed_like_make_run(stack)
        assert await counts(stack) == before

    async def assert_intact(self, stack: Stack) -> None:
        from timeline.integrity.service import verify_post
        from timeline.integrity.signing import signer_for
        from timeline.objects import store_for
        from timeline.settings import Settings as TimelineSettings
        from yui_common.auth import Principal

        settings = stack["timeline"].settings
        assert isinstance(settings, TimelineSettings)
        doctor = demo.USERS["doctor"]
        principal = Principal(
            user_id=doctor.user_id,
            tenant=demo.TENANT,
            facility_id=doctor.facility_id,
            roles=frozenset(doctor.roles),
        )
        photographed = await rows(
            stack, "timeline", "SELECT post_id FROM attachments WHERE post_id IS NOT NULL"
        )
        any_reply = await rows(stack, "timeline", "SELECT id FROM posts WHERE parent_id IS NOT NULL LIMIT 1")
        async with stack["timeline"].sessionmaker() as session, session.begin():
            for (post_id,) in [*photographed, *any_reply]:
                result = await verify_post(
                    session,
                    principal=principal,
                    signer=signer_for(settings),
                    store=store_for(settings),
                    post_id=post_id,
                )
                assert result.intact, result
