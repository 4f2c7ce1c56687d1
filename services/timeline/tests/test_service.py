"""Timeline's use cases: the consent gate, and stopping or deleting a subject's posts in one transaction."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from timeline.access import repository as access_repository
from timeline.access import service as access
from timeline.access.service import Board
from timeline.integrity.signing import ContentSigner
from timeline.posts import pages
from timeline.posts import service as posts
from timeline.retention import service as retention
from uuid6 import uuid7
from yui_common import audit, outbox
from yui_common.auth import Authenticated, Principal
from yui_common.events.consent import ConsentWithdrawnV1
from yui_common.problems import Problem

from tests.support.stack import Stack


def signer(stack: Stack) -> ContentSigner:
    return stack["timeline"].app.state.signer  # type: ignore[no-any-return]


def member() -> Principal:
    return Principal(user_id=uuid4(), tenant="demo", facility_id=uuid4(), roles=frozenset({"staff"}))


async def known_subject(session: AsyncSession, *members: Principal, consent: bool = True) -> UUID:
    """What consent's events would have told timeline: the team, and (optionally) the consent."""
    subject_id = uuid7()
    for who in members:
        await access.care_team_member_added(
            session, tenant="demo", subject_id=subject_id, user_id=who.user_id
        )
    if consent:
        await access.consent_given(session, tenant="demo", subject_id=subject_id)
    return subject_id


def withdrawal_of(subject_id: UUID, mode: str) -> ConsentWithdrawnV1:
    return ConsentWithdrawnV1(
        subject_id=subject_id,
        consent_id=uuid7(),
        withdrawal_id=uuid7(),
        withdrawn_at=datetime.now(UTC),
        mode=mode,
    )


async def reported(session: AsyncSession, subject_id: UUID) -> list[dict]:
    await outbox.stage_pending(session)  # events are written at commit; read them now
    return list(
        (
            await session.execute(
                text(
                    "SELECT envelope FROM outbox WHERE event_type = 'timeline.support-stopped.v1' "
                    "AND envelope->>'subject' = :s"
                ),
                {"s": str(subject_id)},
            )
        ).scalars()
    )


class TestCreatePost:
    async def test_a_member_posts_once_consent_is_active_and_the_post_is_announced_and_audited(
        self, stack: Stack
    ) -> None:
        nurse = member()
        async with stack["timeline"].sessionmaker() as session, session.begin():
            subject_id = await known_subject(session, nurse, consent=False)
            with pytest.raises(Problem) as refused:
                await posts.create_post(
                    session,
                    principal=nurse,
                    signer=signer(stack),
                    board=Board("demo", subject_id=subject_id),
                    category="visit",
                    body="x",
                )
            assert (refused.value.status, refused.value.slug) == (409, "consent-required")

            await access.consent_given(session, tenant="demo", subject_id=subject_id)
            session.expire_all()  # in production the consent event and the request are separate sessions
            created = await posts.create_post(
                session,
                principal=nurse,
                signer=signer(stack),
                board=Board("demo", subject_id=subject_id),
                category="visit",
                body="訪問",
            )
            assert created.author_id == nurse.user_id and created.facility_id == nurse.facility_id
            await outbox.stage_pending(session)  # events are written at commit; read them now
            events = (
                (
                    await session.execute(
                        text("SELECT event_type FROM outbox WHERE envelope->>'subject' = :s"),
                        {"s": str(subject_id)},
                    )
                )
                .scalars()
                .all()
            )
            assert events == ["timeline.post-created.v1"]
            await audit.write_staged(session)  # staged entries are written at commit; read them now
            actions = (
                (
                    await session.execute(
                        text("SELECT action FROM audit_log WHERE subject_id = :s"), {"s": str(subject_id)}
                    )
                )
                .scalars()
                .all()
            )
            assert actions == ["post.create"]
            await session.rollback()

    async def test_someone_not_on_the_team_is_told_not_found(self, stack: Stack) -> None:
        async with stack["timeline"].sessionmaker() as session, session.begin():
            subject_id = await known_subject(session, member())
            with pytest.raises(Problem) as refused:
                await posts.create_post(
                    session,
                    principal=member(),
                    signer=signer(stack),
                    board=Board("demo", subject_id=subject_id),
                    category="visit",
                    body="x",
                )
            assert refused.value.status == 404
            await session.rollback()


class TestStopSupport:
    async def test_stop_marks_every_post_support_stopped_and_reports_the_count(self, stack: Stack) -> None:
        nurse = member()
        async with stack["timeline"].sessionmaker() as session, session.begin():
            subject_id = await known_subject(session, nurse)
            for n in range(3):
                await posts.create_post(
                    session,
                    principal=nurse,
                    signer=signer(stack),
                    board=Board("demo", subject_id=subject_id),
                    category="visit",
                    body=f"{n}",
                )
            withdrawal = withdrawal_of(subject_id, "stop")
            assert await retention.stop_support(session, tenant="demo", withdrawal=withdrawal) == 3

            kept = (
                await session.execute(
                    text(
                        "SELECT count(*) FROM posts WHERE subject_id = :s AND support_stopped_at IS NOT NULL"
                    ),
                    {"s": subject_id},
                )
            ).scalar()
            assert kept == 3  # history is kept (T5), only no longer shared
            [report] = await reported(session, subject_id)
            assert report["data"]["withdrawal_id"] == str(withdrawal.withdrawal_id)
            assert report["data"]["items_affected"] == 3
            with pytest.raises(Problem) as refused:
                await pages.reach_board(
                    (await (await session.connection()).get_raw_connection()).driver_connection,
                    Authenticated(principal=nurse, issued_at=int(time.time())),
                    Board("demo", subject_id=subject_id),
                )
            assert refused.value.status == 410
            await session.rollback()

    async def test_delete_mode_removes_the_posts_and_reports_the_count(self, stack: Stack) -> None:
        nurse = member()
        async with stack["timeline"].sessionmaker() as session, session.begin():
            subject_id = await known_subject(session, nurse)
            for n in range(2):
                await posts.create_post(
                    session,
                    principal=nurse,
                    signer=signer(stack),
                    board=Board("demo", subject_id=subject_id),
                    category="visit",
                    body=f"{n}",
                )
            assert (
                await retention.stop_support(
                    session, tenant="demo", withdrawal=withdrawal_of(subject_id, "delete")
                )
                == 2
            )
            left = (
                await session.execute(
                    text("SELECT count(*) FROM posts WHERE subject_id = :s"), {"s": subject_id}
                )
            ).scalar()
            assert left == 0
            await audit.write_staged(session)  # staged entries are written at commit; read them now
            actions = (
                (
                    await session.execute(
                        text(
                            "SELECT action FROM audit_log "
                            "WHERE subject_id = :s AND actor_id = 'system:timeline'"
                        ),
                        {"s": str(subject_id)},
                    )
                )
                .scalars()
                .all()
            )
            assert actions == ["subject.deleted"]
            await session.rollback()


class TestAccessProjection:
    async def test_a_late_team_event_never_undoes_consent_or_a_stop(self, stack: Stack) -> None:
        """Events are handled concurrently: the team event may arrive after the consent or the withdrawal."""
        async with stack["timeline"].sessionmaker() as session, session.begin():
            consented = uuid7()
            await access.consent_given(session, tenant="demo", subject_id=consented)
            await access.care_team_member_added(session, tenant="demo", subject_id=consented, user_id=uuid4())
            stopped = uuid7()
            await retention.stop_support(session, tenant="demo", withdrawal=withdrawal_of(stopped, "stop"))
            await access.care_team_member_added(session, tenant="demo", subject_id=stopped, user_id=uuid4())
            rows = {
                row.subject_id: (row.consent_active, row.support_stopped_at is not None)
                for row in (
                    await session.execute(
                        text(
                            "SELECT subject_id, consent_active, support_stopped_at FROM subject_access "
                            "WHERE subject_id IN (:a, :b)"
                        ),
                        {"a": consented, "b": stopped},
                    )
                ).all()
            }
            assert rows == {consented: (True, False), stopped: (False, True)}
            assert (
                await access_repository.access_of(
                    session, tenant="demo", subject_id=consented, user_id=uuid4()
                )
                is None
            )
            await session.rollback()
