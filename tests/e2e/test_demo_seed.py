"""`make run`'s demo seed: idempotent, and it announces the demo accounts as identity announces any other."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from yui_common import demo
from yui_common.db import create_engine, create_sessionmaker

from tests.support.infrastructure import REPO, Infrastructure
from tests.support.stack import reset_database


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
                assert user_ids == sorted(user_id for user_id, *_ in demo.USERS.values())
                assert sorted(row[0] for row in announced) == user_ids
        finally:
            await engine.dispose()
            await reset_database(settings)
