"""`make run`'s demo seed: idempotent, it announces the demo accounts as identity announces any other, and it
leaves a living demo: two patients with a week of posts between four colleagues, photos, a support request
answered, replies and read marks, the network's terms and support hours. Beside it a second demo network (a
neighbouring town's, made through the contractor's use case: its network-created event, its first operator and
the portal's first terms from the template) with a patient and a few posts, isolated from the first, and the
contractor's demo account."""

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
                for tenant, people in (
                    (demo.TENANT, demo.USERS),
                    (demo.NEIGHBOUR_TENANT, demo.NEIGHBOUR_USERS),
                ):
                    users = await session.execute(
                        text("SELECT id, login_id FROM users WHERE tenant = :t"), {"t": tenant}
                    )
                    announced = await session.execute(
                        text(
                            "SELECT (envelope->'data'->>'user_id')::uuid FROM outbox "
                            "WHERE event_type = 'identity.user-created.v1' AND envelope->>'tenant' = :t"
                        ),
                        {"t": tenant},
                    )
                    found = {row.login_id: row.id for row in users}
                    # The neighbour's first operator was made by create_network, under an id of its own.
                    assert {login: found[login] for login in people} == {
                        login: person.user_id for login, person in people.items()
                    }
                    expected = set(people) | ({"operator"} if tenant == demo.NEIGHBOUR_TENANT else set())
                    assert set(found) == expected, tenant
                    assert sorted(row[0] for row in announced) == sorted(found.values())

                # The second network is provisioned as the contractor's CLI provisions one, once: its
                # network-created event, its municipalities, an operator who signs in with the demo password.
                created = await session.execute(
                    text(
                        "SELECT envelope->>'tenant' FROM outbox WHERE event_type = 'identity.network-created.v1'"
                    )
                )
                assert sorted(row[0] for row in created) == sorted([demo.TENANT, demo.NEIGHBOUR_TENANT])
                neighbour = (
                    await session.execute(
                        text(
                            "SELECT name, municipality_codes, created_as_demo, password_only_allowed "
                            "FROM networks WHERE slug = :s"
                        ),
                        {"s": demo.NEIGHBOUR_TENANT},
                    )
                ).one()
                assert neighbour.name == demo.NEIGHBOUR_NAME
                assert list(neighbour.municipality_codes) == list(demo.NEIGHBOUR_MUNICIPALITY_CODES)
                assert neighbour.created_as_demo and neighbour.password_only_allowed
                provisioned = await session.execute(
                    text("SELECT 1 FROM audit_log WHERE action = 'network.created' AND tenant = :t"),
                    {"t": demo.NEIGHBOUR_TENANT},
                )
                assert len(provisioned.all()) == 1
                # The contractor's demo account: its first sign-in chooses a password and enrols TOTP.
                contractor = (
                    await session.execute(
                        text("SELECT password_hash, must_change_password FROM platform_accounts")
                    )
                ).all()
                assert len(contractor) == 1 and contractor[0].must_change_password
                from identity.passwords import verify_password

                assert verify_password(contractor[0].password_hash, demo.PASSWORD)
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
    "identity": ("networks", "users", "facilities", "platform_accounts", "outbox"),
    "consent": ("subjects", "consents", "care_team_members", "care_team_invitations", "outbox"),
    "timeline": (
        "posts",
        "post_versions",
        "attachments",
        "read_marks",
        "vitals",
        "summary_versions",
        "medications",
        "drug_master",
        "hospital_imports",
        "import_offers",
        "outbox",
    ),
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

            # The vital signs the nurse and the helper wrote, kept as data too: the chart has points.
            vitals = await rows(
                stack,
                "timeline",
                "SELECT v.measured_at, p.created_at, p.category FROM vitals v JOIN posts p ON p.id = v.post_id "
                "WHERE v.subject_id = :s",
                s=subject_id,
            )
            assert len(vitals) >= 2
            assert all(v.measured_at == v.created_at and v.category == "vital_signs" for v in vitals)

            # The summary as the nurse first wrote it, with the family doctor and the ACP wishes.
            summary = await rows(
                stack,
                "timeline",
                "SELECT version, content, author_id FROM summary_versions WHERE subject_id = :s",
                s=subject_id,
            )
            assert [(v.version, v.author_id) for v in summary] == [(1, demo.USERS["nurse"].user_id)]
            assert summary[0].content["family_doctor"]["name"] == demo.USERS["doctor"].name
            assert summary[0].content["acp"]["wishes"]

            # A medication list from the drug master; the second patient's shows the team a duplicate.
            listed = await rows(
                stack,
                "timeline",
                "SELECT ingredient_key, facility FROM medications WHERE subject_id = :s AND drug_code IS NOT NULL",
                s=subject_id,
            )
            assert listed
            if subject_id == demo.SUBJECT:
                # Her discharge summary, made out to her, its offers waiting for the team.
                letters = await rows(
                    stack,
                    "timeline",
                    "SELECT i.bundle, count(o.index) AS offers FROM hospital_imports i "
                    "JOIN import_offers o ON o.import_id = i.id AND o.status = 'offered' "
                    "WHERE i.subject_id = :s GROUP BY i.id",
                    s=subject_id,
                )
                assert len(letters) == 1 and letters[0].offers >= 3
                assert "結 キヨ" in str(letters[0].bundle)
            if subject_id == demo.SUBJECT_2:
                from timeline.medications.service import today, warnings
                from timeline.models import Medication

                medications = await rows(
                    stack, "timeline", "SELECT * FROM medications WHERE subject_id = :s", s=subject_id
                )
                found = warnings([Medication(**m._mapping) for m in medications], today())
                assert [(w.kind, w.label) for w in found] == [("ingredient", "アムロジピンベシル酸塩")]

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
        terms = await rows(
            stack,
            "portal",
            "SELECT version, title, body, effective_at FROM terms_versions WHERE tenant = :t",
            t=demo.TENANT,
        )
        assert [(t.version, t.title) for t in terms] == [(demo.TERMS_VERSION, "結ネット 利用規約")]
        assert "第1条" in terms[0].body and terms[0].effective_at < seeded_at
        hours = await rows(
            stack,
            "portal",
            "SELECT support_closed_periods, support_holidays FROM portal_settings WHERE tenant = :t",
            t=demo.TENANT,
        )
        assert hours[0].support_closed_periods == ["12-29..01-03"]
        assert hours[0].support_holidays == [d.isoformat() for d in NATIONAL_HOLIDAYS_2027]

        # The people, known by name everywhere through identity's events; notifications through the bus.
        facilities = {**demo.FACILITIES, **demo.NEIGHBOUR_FACILITIES}
        for login, person in [*demo.USERS.items(), *demo.NEIGHBOUR_USERS.items()]:
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
                facilities[person.facility_id].name,
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

        # The networks announced as the contractor's networks are: every service knows their rules.
        for service in ("consent", "timeline", "portal", "notify"):
            for tenant in (demo.TENANT, demo.NEIGHBOUR_TENANT):
                await eventually(
                    functools.partial(
                        rows, stack, service, "SELECT 1 FROM network_states WHERE tenant = :t", t=tenant
                    ),
                    what=f"{service} knows the network {tenant}",
                )

        # The patients announced by name as registering announces them.
        announced = await rows(
            stack,
            "consent",
            "SELECT (envelope::jsonb)->'data'->>'name' FROM outbox WHERE event_type = 'consent.subject-changed.v1'",
        )
        patients = [*demo.SUBJECTS.values(), *demo.NEIGHBOUR_SUBJECTS.values()]
        assert sorted(name for (name,) in announced) == sorted(s.name for s in patients)

        await self.assert_neighbour(stack, seeded_at)
        await self.assert_isolated(stack)

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
        any_reply = await rows(
            stack,
            "timeline",
            "SELECT id FROM posts WHERE parent_id IS NOT NULL AND tenant = :t LIMIT 1",
            t=demo.TENANT,
        )
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

    async def assert_neighbour(self, stack: Stack, seeded_at: datetime) -> None:
        """The second network: its patient registered in one of its towns, consent and a team of the clinic's
        doctor and the care home's helper, a few posts between them; its first terms from the template."""
        tenant = demo.NEIGHBOUR_TENANT
        team = {demo.NEIGHBOUR_USERS[login].user_id for login in demo.NEIGHBOUR_STAFF}
        subjects = await rows(
            stack, "consent", "SELECT id, municipality_code FROM subjects WHERE tenant = :t", t=tenant
        )
        assert [s.id for s in subjects] == [demo.NEIGHBOUR_SUBJECT]
        assert subjects[0].municipality_code in demo.NEIGHBOUR_MUNICIPALITY_CODES
        members = await rows(
            stack,
            "consent",
            "SELECT user_id FROM care_team_members WHERE subject_id = :s",
            s=demo.NEIGHBOUR_SUBJECT,
        )
        assert {m.user_id for m in members} == team
        consents = await rows(
            stack, "consent", "SELECT status FROM consents WHERE subject_id = :s", s=demo.NEIGHBOUR_SUBJECT
        )
        assert [c.status for c in consents] == ["active"]
        posts = await rows(
            stack,
            "timeline",
            "SELECT author_id, parent_id, created_at, tenant FROM posts WHERE subject_id = :s",
            s=demo.NEIGHBOUR_SUBJECT,
        )
        assert len(posts) >= 3 and {p.author_id for p in posts} == team
        assert all(p.tenant == tenant and p.created_at < seeded_at for p in posts)
        assert any(p.parent_id is not None for p in posts)

        # Its own terms of use: the portal's first version from the template, with the network's name in it.
        terms = await eventually(
            functools.partial(
                rows, stack, "portal", "SELECT title, body FROM terms_versions WHERE tenant = :t", t=tenant
            ),
            what="the portal's first terms of the second network",
        )
        assert len(terms) == 1 and demo.NEIGHBOUR_NAME in terms[0].title + terms[0].body
        assert "結ネット" not in terms[0].body

    async def assert_isolated(self, stack: Stack) -> None:
        """Each network's staff see their own patients only: the other network's patient is not found (404),
        whether listed, opened in consent or read on the timeline."""
        networks = (
            (demo.TENANT, demo.USERS["doctor"], demo.SUBJECT, demo.NEIGHBOUR_SUBJECT),
            (demo.NEIGHBOUR_TENANT, demo.NEIGHBOUR_USERS["doctor"], demo.NEIGHBOUR_SUBJECT, demo.SUBJECT),
        )
        for tenant, doctor, own, others in networks:
            staff = stack.staff(
                tenant=tenant, facility_id=doctor.facility_id, roles=doctor.roles, user_id=doctor.user_id
            )
            listed = await stack["consent"].client.get("/subjects?status=all", headers=staff.headers)
            assert listed.status_code == 200, listed.text
            items = listed.json()["items"] if isinstance(listed.json(), dict) else listed.json()
            assert str(others) not in {item["id"] for item in items}
            assert str(own) in {item["id"] for item in items}
            opened = await stack["timeline"].client.get(f"/subjects/{own}/posts", headers=staff.headers)
            assert opened.status_code == 200, opened.text
            for service, path in (
                ("consent", f"/subjects/{others}"),
                ("timeline", f"/subjects/{others}/posts"),
            ):
                answer = await stack[service].client.get(path, headers=staff.headers)
                assert answer.status_code == 404, (tenant, service, answer.status_code, answer.text[:200])
            feed = await stack["timeline"].client.get("/feed", headers=staff.headers)
            assert feed.status_code == 200, feed.text
            assert str(others) not in feed.text
