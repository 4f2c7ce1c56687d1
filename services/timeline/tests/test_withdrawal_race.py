"""A withdrawal against a write in flight on the same subject (C4, issue 14): two real connections, in both orders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from timeline.access import service as access
from timeline.access.service import Board
from timeline.attachments import service as attachments
from timeline.integrity.signing import ContentSigner
from timeline.posts import service as posts
from timeline.support_requests import service as support_requests
from uuid6 import uuid7
from yui_common.auth import Principal
from yui_common.events.consent import ConsentWithdrawnV1
from yui_common.problems import Problem

from services.timeline.tests.timeline_support import PDF
from tests.support.stack import Stack, eventually


def staff() -> Principal:
    return Principal(user_id=uuid4(), tenant="demo", facility_id=uuid4(), roles=frozenset({"staff"}))


@dataclass
class Scene:
    """A consented subject whose nurse has posted, and a support request the outsider (not on the team) has
    answered: every kind of write has something to write to."""

    stack: Stack
    subject_id: UUID
    nurse: Principal
    outsider: Principal
    post_id: UUID
    request_id: UUID

    @property
    def signer(self) -> ContentSigner:
        return self.stack["timeline"].app.state.signer  # type: ignore[no-any-return]

    @property
    def board(self) -> Board:
        return Board("demo", subject_id=self.subject_id)


async def scene(stack: Stack) -> Scene:
    nurse, outsider = staff(), staff()
    subject_id = uuid7()
    async with stack["timeline"].sessionmaker() as session, session.begin():
        await access.care_team_member_added(
            session, tenant="demo", subject_id=subject_id, user_id=nurse.user_id
        )
        await access.consent_given(session, tenant="demo", subject_id=subject_id)
    signer: ContentSigner = stack["timeline"].app.state.signer
    board = Board("demo", subject_id=subject_id)
    async with stack["timeline"].sessionmaker() as session, session.begin():
        post = await posts.create_post(
            session, principal=nurse, signer=signer, board=board, category="visit", body="訪問"
        )
        request = await posts.create_post(
            session,
            principal=nurse,
            signer=signer,
            board=board,
            category="visit",
            body="往診をお願いします",
            addressed_user_id=outsider.user_id,
        )
    async with stack["timeline"].sessionmaker() as session, session.begin():
        await posts.reply(
            session, principal=outsider, signer=signer, post_id=request.id, category="visit", body="伺います"
        )
    return Scene(stack, subject_id, nurse, outsider, post.id, request.id)


# Every way content reaches a subject's timeline (or changes there), each in the caller's transaction.
Write = Callable[[AsyncSession, Scene], Awaitable[Any]]


async def new_post(session: AsyncSession, at: Scene) -> Any:
    return await posts.create_post(
        session, principal=at.nurse, signer=at.signer, board=at.board, category="visit", body="追記"
    )


async def new_support_request(session: AsyncSession, at: Scene) -> Any:
    return await posts.create_post(
        session,
        principal=at.nurse,
        signer=at.signer,
        board=at.board,
        category="visit",
        body="もう一度お願いします",
        addressed_user_id=at.outsider.user_id,
    )


async def member_reply(session: AsyncSession, at: Scene) -> Any:
    return await posts.reply(
        session, principal=at.nurse, signer=at.signer, post_id=at.post_id, category="visit", body="返信"
    )


async def addressee_answer(session: AsyncSession, at: Scene) -> Any:
    return await posts.reply(
        session, principal=at.outsider, signer=at.signer, post_id=at.request_id, category="visit", body="追伸"
    )


async def edit(session: AsyncSession, at: Scene) -> Any:
    return await posts.edit_post(
        session, principal=at.nurse, signer=at.signer, post_id=at.post_id, category=None, body="訂正"
    )


async def decide_request(session: AsyncSession, at: Scene) -> Any:
    return await support_requests.decide_support_request(
        session, principal=at.nurse, post_id=at.request_id, decision="adopted"
    )


async def upload(session: AsyncSession, at: Scene) -> Any:
    async def chunks() -> AsyncIterator[bytes]:
        yield PDF

    app = at.stack["timeline"].app
    return await attachments.upload_attachment(
        session,
        principal=at.nurse,
        signer=at.signer,
        store=app.state.object_store,
        settings=app.state.settings,
        board=at.board,
        filename="紹介状.pdf",
        declared_length=len(PDF),
        chunks=chunks(),
    )


WRITES = pytest.mark.parametrize(
    "write",
    [new_post, new_support_request, member_reply, addressee_answer, edit, decide_request, upload],
    ids=lambda write: write.__name__,
)


def withdrawal_of(subject_id: UUID) -> ConsentWithdrawnV1:
    return ConsentWithdrawnV1(
        subject_id=subject_id,
        consent_id=uuid7(),
        withdrawal_id=uuid7(),
        withdrawn_at=datetime.now(UTC),
        mode="stop",
    )


async def backend_pid(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def in_own_transaction(
    stack: Stack, started: asyncio.Future[int], work: Callable[[AsyncSession], Awaitable[Any]]
) -> Any:
    """Run ``work`` in a transaction of its own connection, telling ``started`` that connection's backend."""
    async with stack["timeline"].sessionmaker() as session, session.begin():
        started.set_result(await backend_pid(session))
        return await work(session)


async def waits_for(stack: Stack, task: asyncio.Task[Any], *, waiter: int, holder: int) -> None:
    """Until PostgreSQL reports ``waiter`` blocked by ``holder``'s lock (bounded: ``eventually``'s timeout)."""

    async def blocked() -> bool:
        if task.done():
            task.result()  # its own error, if any
            raise AssertionError("the second transaction finished without waiting for the first")
        async with stack["timeline"].sessionmaker() as session:
            answer = await session.execute(
                text("SELECT CAST(:holder AS integer) = ANY(pg_blocking_pids(:waiter))"),
                {"holder": holder, "waiter": waiter},
            )
            return bool(answer.scalar_one())

    await eventually(blocked, what=f"backend {waiter} to wait for backend {holder}'s lock")


async def bulk_stop_report(stack: Stack, subject_id: UUID) -> tuple[int, int, int]:
    """Once the worker's bulk stop has reported: (items it reported, posts held, posts still shown)."""

    async def reported() -> tuple[int, int, int] | None:
        async with stack["timeline"].sessionmaker() as session:
            report = (
                await session.execute(
                    text(
                        "SELECT envelope->'data'->>'items_affected' FROM outbox "
                        "WHERE event_type = 'timeline.support-stopped.v1' AND envelope->>'subject' = :s"
                    ),
                    {"s": str(subject_id)},
                )
            ).scalar_one_or_none()
            if report is None:
                return None
            held, running = (
                await session.execute(
                    text(
                        "SELECT count(*), count(*) FILTER (WHERE support_stopped_at IS NULL) "
                        "FROM posts WHERE subject_id = :s"
                    ),
                    {"s": subject_id},
                )
            ).one()
            return int(report), int(held), int(running)

    result: tuple[int, int, int] = await eventually(reported, what="the bulk stop's report")
    return result


class TestC4WithdrawalSerializesWithWrites:
    @WRITES
    async def test_c4_a_write_holding_the_subject_makes_the_withdrawal_wait_and_is_stopped_with_the_rest(
        self, stack: Stack, write: Write
    ) -> None:
        at = await scene(stack)
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        async with stack["timeline"].sessionmaker() as writer:
            async with writer.begin():
                writer_pid = await backend_pid(writer)
                await write(writer, at)  # past the access check, not committed
                withdrawal = asyncio.create_task(
                    in_own_transaction(
                        stack,
                        started,
                        lambda session: access.refuse_subject(
                            session, tenant="demo", withdrawal=withdrawal_of(at.subject_id)
                        ),
                    )
                )
                await waits_for(stack, withdrawal, waiter=await started, holder=writer_pid)
            await withdrawal

        reported, held, running = await bulk_stop_report(stack, at.subject_id)
        assert running == 0, "a post committed before the withdrawal's lock must be stopped with the rest"
        assert reported == held

    @WRITES
    async def test_c4_a_write_after_the_withdrawal_took_the_subject_waits_and_is_refused(
        self, stack: Stack, write: Write
    ) -> None:
        at = await scene(stack)
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        async with stack["timeline"].sessionmaker() as withdrawer:
            async with withdrawer.begin():
                withdrawer_pid = await backend_pid(withdrawer)
                await access.refuse_subject(
                    withdrawer, tenant="demo", withdrawal=withdrawal_of(at.subject_id)
                )
                writing = asyncio.create_task(in_own_transaction(stack, started, lambda s: write(s, at)))
                await waits_for(stack, writing, waiter=await started, holder=withdrawer_pid)
            with pytest.raises(Problem) as refused:
                await writing
        assert (refused.value.status, refused.value.slug) == (410, "support-stopped")

        reported, held, running = await bulk_stop_report(stack, at.subject_id)
        assert (reported, held, running) == (3, 3, 0)  # the post, the request and its answer; nothing added
        async with stack["timeline"].sessionmaker() as session:
            changed = await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM attachments WHERE subject_id = :s), "
                    "(SELECT max(version) FROM posts WHERE subject_id = :s), "
                    "(SELECT request_status FROM posts WHERE id = :r)"
                ),
                {"s": at.subject_id, "r": at.request_id},
            )
            assert tuple(changed.one()) == (0, 1, "answered")
