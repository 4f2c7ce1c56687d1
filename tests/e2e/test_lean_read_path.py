"""perf2: the timeline page, the group board and the feed read without the ORM answer exactly what the ORM path answered
(status, headers, body) for an insider, an outsider (404), a withdrawn subject (410) and a revoked token (401),
in at most five PostgreSQL round trips per page (issue 13; a board's page takes two, the feed five).

The ORM path is the implementation timeline served before the lean one, kept here only (``orm_routes``): it runs
in a second timeline app on the same database, registered ahead of the app's own page routes, and its answers
are captured before the lean app is asked the same questions.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Annotated, Any
from uuid import UUID, uuid4

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI, Query, Response
from sqlalchemy import event, select, text, tuple_
from sqlalchemy import literal as sql_literal
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import defer
from timeline.access import repository as access_repository
from timeline.access.service import Board, board_for, record_audit
from timeline.dependencies import group_board, subject_board
from timeline.groups import repository as group_repository
from timeline.main import create_app
from timeline.models import UNREAD_WINDOW, Post
from timeline.people import people_of, person_or_unknown
from timeline.posts import repository as posts_repository
from timeline.posts import service
from timeline.posts.pages import decode_cursor, encode_cursor
from timeline.posts.responses import mark_reference_only, post_read
from timeline.posts.schemas import REFERENCE_HEADER, Feed, FeedItem, MentionCandidates, PostPage
from yui_common import auth, revocations
from yui_common.audit_seal import verify_log
from yui_common.auth import CurrentPrincipal, JwksKeySet, Principal, TokenVerifier
from yui_common.db import DbSession
from yui_common.problems import Problem

from services.timeline.tests.timeline_support import (
    create_post,
    group_with_members,
    png_bytes,
    subject_with_team,
)
from tests.support.stack import GATEWAY_SECRET, Stack, Staff

PAGE_ROUND_TRIPS = 5


# --- the ORM path as it was served before the lean one -------------------------------------------------------


async def _orm_posts_page(
    session: AsyncSession, *, board: Board, limit: int, before: tuple[datetime, UUID] | None
) -> list[Post]:
    board_filter = (
        Post.subject_id == board.subject_id if board.subject_id else Post.group_id == board.group_id
    )
    stmt = (
        select(Post)
        .options(defer(Post.search_text))
        .where(board_filter, Post.parent_id.is_(None), Post.support_stopped_at.is_(None))
    )
    if before is not None:
        stmt = stmt.where(
            tuple_(Post.created_at, Post.id) < tuple_(sql_literal(before[0]), sql_literal(before[1]))
        )
    stmt = stmt.order_by(Post.created_at.desc(), Post.id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars().all())


async def _orm_list_posts(
    session: AsyncSession, principal: Principal, on: Board, limit: int, cursor: str | None
) -> Response:
    board = await board_for(session, principal, on)
    posts = await _orm_posts_page(
        session, board=board, limit=limit, before=decode_cursor(cursor) if cursor else None
    )
    views = await service.views_of(session, principal, posts)
    await record_audit(session, principal, "post.list", board, count=len(posts))
    next_cursor = encode_cursor(posts[-1].created_at, posts[-1].id) if len(posts) == limit else None
    page = PostPage(items=[post_read(v) for v in views], next_cursor=next_cursor)
    answer = Response(page.model_dump_json(), media_type="application/json")
    mark_reference_only(answer)
    return answer


async def _orm_feed(session: AsyncSession, principal: Principal) -> Feed:
    rows = (
        await session.execute(
            text(posts_repository._BOARDS),
            {"me": principal.user_id, "tenant": principal.tenant, "window": UNREAD_WINDOW},
        )
    ).all()
    latest_ids = [r.latest for r in rows if r.latest is not None]
    latest = list((await session.execute(select(Post).where(Post.id.in_(latest_ids)))).scalars())
    views = {v.post.id: v for v in await service.views_of(session, principal, latest)}
    items = []
    for row in rows:
        board = (
            Board(principal.tenant, subject_id=row.board_id)
            if row.kind == "subject"
            else Board(principal.tenant, group_id=row.board_id)
        )
        items.append((board, views.get(row.latest) if row.latest else None, int(row.unread)))
        if row.kind == "subject":
            await record_audit(session, principal, "feed.read", board, unread=int(row.unread))
    epoch = datetime.min.replace(tzinfo=UTC)
    items.sort(key=lambda item: item[1].post.created_at if item[1] else epoch, reverse=True)
    return Feed(
        items=[
            FeedItem(
                subject_id=board.subject_id,
                group_id=board.group_id,
                latest_post=post_read(view) if view else None,
                unread_count=unread,
            )
            for board, view, unread in items
        ],
        total_unread=sum(unread for _, _, unread in items),
    )


async def _orm_mention_candidates(session: AsyncSession, principal: Principal, board: Board) -> Response:
    board = await board_for(session, principal, board)
    if board.subject_id is not None:
        members = await access_repository.team_member_ids(session, subject_id=board.subject_id)
    else:
        assert board.group_id is not None
        members = await group_repository.member_ids(session, group_id=board.group_id)
    others = [m for m in members if m != principal.user_id]
    people = await people_of(session, tenant=principal.tenant, user_ids=others)
    await record_audit(session, principal, "post.mention_candidates", board, count=len(others))
    found = sorted(
        (person_or_unknown(people, m) for m in others),
        key=lambda p: (p.status == "unknown", p.name_kana or p.name, str(p.id)),
    )
    response = Response(MentionCandidates(items=found).model_dump_json(), media_type="application/json")
    mark_reference_only(response)
    return response


def orm_routes() -> APIRouter:
    router = APIRouter()

    @router.get("/subjects/{subject_id}/mention-candidates")
    async def orm_subject_candidates(
        session: DbSession, principal: CurrentPrincipal, on: Board = Depends(subject_board)
    ) -> Response:
        return await _orm_mention_candidates(session, principal, on)

    @router.get("/groups/{group_id}/mention-candidates")
    async def orm_group_candidates(
        session: DbSession, principal: CurrentPrincipal, on: Board = Depends(group_board)
    ) -> Response:
        return await _orm_mention_candidates(session, principal, on)

    @router.get("/feed", response_model=Feed)
    async def orm_feed(session: DbSession, principal: CurrentPrincipal, response: Response) -> Feed:
        feed = await _orm_feed(session, principal)
        mark_reference_only(response)
        return feed

    @router.get("/subjects/{subject_id}/posts")
    async def orm_subject_page(
        session: DbSession,
        principal: CurrentPrincipal,
        on: Board = Depends(subject_board),
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        return await _orm_list_posts(session, principal, on, limit, cursor)

    @router.get("/groups/{group_id}/posts")
    async def orm_group_page(
        session: DbSession,
        principal: CurrentPrincipal,
        on: Board = Depends(group_board),
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        return await _orm_list_posts(session, principal, on, limit, cursor)

    return router


@pytest.fixture(scope="module")
async def orm_timeline(stack: Stack) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A second timeline app on the same database whose page routes are the ORM path's."""
    from identity import tokens

    app: FastAPI = create_app(stack["timeline"].settings)  # type: ignore[arg-type]
    app.state.gateway_secret = GATEWAY_SECRET.encode()
    app.router.routes[0:0] = orm_routes().routes  # matched before the app's own (lean) page routes
    async with LifespanManager(app, startup_timeout=60):
        app.state.token_verifier.keys.load({"keys": [tokens.public_jwk(stack.signing_key)]})
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://timeline.test"
        ) as client:
            yield app, client


# --- counting round trips ------------------------------------------------------------------------------------


@asynccontextmanager
async def round_trips(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """Every message exchange with PostgreSQL an engine makes while the block runs: the statements SQLAlchemy
    sends (prepared; their Parse is cached per connection) and the queries asyncpg sends by itself (BEGIN,
    COMMIT, ROLLBACK, a pre-ping's empty statement) or for the driver's connection. Left out: asyncpg's
    introspection of row types it has not met yet on a connection (three queries, once per connection), which
    the pool decides, not the request. asyncpg calls its query loggers soon after a query, not at once: the
    block's end lets them run before it counts."""
    sent: list[str] = []

    def logged(record: Any) -> None:
        sent.append(record.query)

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(logged)

    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            dbapi_connection.driver_connection.remove_query_logger(logged)

    def on_statement(*args: Any) -> None:
        sent.append(args[2])

    sync = engine.sync_engine
    event.listen(sync.pool, "checkout", on_checkout)
    event.listen(sync.pool, "checkin", on_checkin)
    event.listen(sync, "before_cursor_execute", on_statement)
    try:
        yield sent
        await asyncio.sleep(0)
        sent[:] = [statement for statement in sent if not _type_introspection(statement)]
    finally:
        event.remove(sync.pool, "checkout", on_checkout)
        event.remove(sync.pool, "checkin", on_checkin)
        event.remove(sync, "before_cursor_execute", on_statement)


def _type_introspection(statement: str) -> bool:
    return "typeinfo_tree" in statement or "set_config('jit'" in statement


# --- the scenarios ------------------------------------------------------------------------------------------


def answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    return response.status_code, dict(response.headers), response.content


async def ask(client: httpx.AsyncClient, questions: list[tuple[str, Staff | None]]) -> list[Any]:
    answers = []
    for path, who in questions:
        answers.append(answer(await client.get(path, headers=who.headers if who else {})))
    return answers


async def upload(stack: Stack, staff: Staff, subject_id: UUID) -> dict[str, Any]:
    response = await stack["timeline"].client.post(
        f"/subjects/{subject_id}/attachments",
        params={"filename": "褥瘡.png"},
        content=png_bytes(64, 48),
        headers={**staff.headers, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


class TestTimelineLeanReadPath:
    async def test_perf2_the_lean_page_answers_what_the_orm_path_answered(
        self, stack: Stack, orm_timeline: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        _, orm_client = orm_timeline
        timeline = stack["timeline"].client
        nurse, doctor, outsider, revoked = stack.staff(), stack.staff(), stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor, revoked)
        first = await create_post(stack, nurse, subject_id, "訪問しました。")
        image = await upload(stack, nurse, subject_id)
        await create_post(
            stack,
            nurse,
            subject_id,
            "褥瘡の写真です @先生",
            mentions=[str(doctor.user_id)],
            attachment_ids=[image["id"]],
        )
        await create_post(
            stack,
            doctor,
            subject_id,
            "ご相談です",
            support_request={"addressed_facility_id": str(nurse.facility_id)},
        )
        gone = await create_post(stack, nurse, subject_id, "誤って投稿")
        assert (await timeline.delete(f"/posts/{gone['id']}", headers=nurse.headers)).status_code == 200
        replied = await timeline.post(
            f"/posts/{first['id']}/replies", json={"body": "了解です"}, headers=doctor.headers
        )
        assert replied.status_code == 201, replied.text
        assert (await timeline.get(f"/posts/{first['id']}", headers=doctor.headers)).status_code == 200
        group_id = await group_with_members(stack, nurse, doctor)
        group_post = await timeline.post(
            f"/groups/{group_id}/posts", json={"body": "研修の案内"}, headers=nurse.headers
        )
        assert group_post.status_code == 201, group_post.text
        withdrawn_id = await subject_with_team(stack, nurse)
        await create_post(stack, nurse, withdrawn_id, "支援中止前の投稿")
        async with stack["timeline"].sessionmaker() as session, session.begin():
            await access_repository.stop_access(
                session, tenant="demo", subject_id=withdrawn_id, at=datetime.now(UTC)
            )
            await revocations.revoke(
                session, kind="user", value=str(revoked.user_id), tenant="demo", revoked_at=None
            )
        second_page = (
            await timeline.get(f"/subjects/{subject_id}/posts?limit=2", headers=nurse.headers)
        ).json()["next_cursor"]
        assert second_page

        page = f"/subjects/{subject_id}/posts"
        questions: list[tuple[str, Staff | None]] = [
            (page, nurse),  # insider: attachment, mention, reply, read marks, support request, tombstone
            (page, doctor),  # another insider: read_by_me differs
            (f"{page}?limit=2", nurse),
            (f"{page}?limit=2&cursor={second_page}", nurse),
            (f"/groups/{group_id}/posts", doctor),
            (page, outsider),  # 404
            (f"/groups/{group_id}/posts", outsider),  # 404
            (f"/subjects/{withdrawn_id}/posts", nurse),  # 410
            (page, revoked),  # 401: revoked
            (f"/subjects/{withdrawn_id}/posts", revoked),  # 401 before 410: the deny list comes first
            ("/feed", nurse),  # subjects (one withdrawn, left out) and a group, latest posts, unread counts
            ("/feed", doctor),
            ("/feed", outsider),  # nothing
            ("/feed", revoked),  # 401
            (page, None),  # 401: no token
            (f"{page}?cursor=bm90IGEgY3Vyc29y", nurse),  # 400
            (f"{page}?limit=0", nurse),  # 422
        ]
        before = await ask(orm_client, questions)  # the ORM path's answers, captured first
        after = await ask(timeline, questions)

        assert [a[0] for a in before] == [
            *(200, 200, 200, 200, 200, 404, 404, 410, 401, 401),
            *(200, 200, 200, 401, 401, 400, 422),
        ]
        feed = httpx.Response(200, content=before[10][2]).json()
        assert len(feed["items"]) == 2 and feed["items"][0]["latest_post"] and feed["total_unread"] > 0
        insider = httpx.Response(200, content=before[0][2]).json()
        assert len(insider["items"]) == 4 and insider["items"][2]["attachments"]
        for question, (orm, lean) in zip(questions, zip(before, after, strict=True), strict=True):
            assert lean == orm, question

    async def test_perf2_a_page_and_the_feed_cost_at_most_five_round_trips(
        self, stack: Stack, orm_timeline: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        orm_app, orm_client = orm_timeline
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        for n in range(3):
            await create_post(stack, nurse, subject_id, f"記録 {n}")
        group_id = await group_with_members(stack, nurse)
        timeline = stack["timeline"]
        counts = {}
        for name, path in (
            ("subject", f"/subjects/{subject_id}/posts"),
            ("group", f"/groups/{group_id}/posts"),
            ("feed", "/feed"),
        ):
            await timeline.client.get(path, headers=nurse.headers)  # statements prepared on the connection
            async with round_trips(timeline.app.state.engine) as sent:
                response = await timeline.client.get(path, headers=nurse.headers)
            assert response.status_code == 200, response.text
            counts[name] = len(sent)
            assert len(sent) <= PAGE_ROUND_TRIPS, sent
            if name != "feed":  # a board's page: the authorization, then the page with its audit entry
                assert len(sent) == 2, "\n".join(s[:150] for s in sent)
            assert any("audit_log" in statement for statement in sent), sent

        await orm_client.get(f"/subjects/{subject_id}/posts", headers=nurse.headers)
        async with round_trips(orm_app.state.engine) as sent:
            await orm_client.get(f"/subjects/{subject_id}/posts", headers=nurse.headers)
        # The ORM path (already without pre-ping, which cost three more) needs more: the page is not one
        # statement there, and the deny list and the care team are two.
        assert len(sent) > counts["subject"], (sent, counts)

    async def test_perf2_the_conversation_page_answers_the_page_and_the_members_as_their_own_routes_do(
        self, stack: Stack, orm_timeline: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        """The staff UI's one call (``/conversation``) holds what ``/posts`` and ``/mention-candidates`` answer,
        and those what the ORM path answered; it refuses as ``/posts`` refuses, takes three round trips and
        audits both readings."""
        _, orm_client = orm_timeline
        timeline = stack["timeline"]
        nurse, doctor, outsider, revoked = stack.staff(), stack.staff(), stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor, revoked)
        await create_post(stack, nurse, subject_id, "訪問しました。", mentions=[str(doctor.user_id)])
        group_id = await group_with_members(stack, nurse, doctor)
        withdrawn_id = await subject_with_team(stack, nurse)
        async with timeline.sessionmaker() as session, session.begin():
            await access_repository.stop_access(
                session, tenant="demo", subject_id=withdrawn_id, at=datetime.now(UTC)
            )
            await revocations.revoke(
                session, kind="user", value=str(revoked.user_id), tenant="demo", revoked_at=None
            )

        for board, who in (
            (f"/subjects/{subject_id}", nurse),
            (f"/subjects/{subject_id}", doctor),
            (f"/groups/{group_id}", doctor),
        ):
            both = await timeline.client.get(f"{board}/conversation?limit=2", headers=who.headers)
            page = await timeline.client.get(f"{board}/posts?limit=2", headers=who.headers)
            members = await timeline.client.get(f"{board}/mention-candidates", headers=who.headers)
            orm_members = await orm_client.get(f"{board}/mention-candidates", headers=who.headers)
            assert answer(members) == answer(orm_members)
            assert both.status_code == 200, both.text
            assert both.json() == {"page": page.json(), "mention_candidates": members.json()["items"]}
            assert both.json()["mention_candidates"] and both.headers[REFERENCE_HEADER]
        for path, who in (
            (f"/subjects/{subject_id}", outsider),
            (f"/subjects/{withdrawn_id}", nurse),
            (f"/subjects/{subject_id}", revoked),
            (f"/subjects/{subject_id}", None),
        ):
            headers = who.headers if who else {}
            both = await timeline.client.get(f"{path}/conversation", headers=headers)
            page = await timeline.client.get(f"{path}/posts", headers=headers)
            members = await timeline.client.get(f"{path}/mention-candidates", headers=headers)
            orm_members = await orm_client.get(f"{path}/mention-candidates", headers=headers)
            assert answer(members) == answer(orm_members)
            problem = {**both.json(), "instance": page.json()["instance"]}
            assert both.json()["instance"].endswith("/conversation")
            assert (both.status_code, problem) == (page.status_code, page.json())

        await timeline.client.get(f"/subjects/{subject_id}/conversation", headers=nurse.headers)
        async with round_trips(timeline.app.state.engine) as sent:
            response = await timeline.client.get(
                f"/subjects/{subject_id}/conversation", headers=nurse.headers
            )
        assert response.status_code == 200 and len(sent) == 3, sent
        async with timeline.sessionmaker() as session:
            entries = (
                await session.execute(
                    text(
                        "SELECT action, detail FROM audit_log WHERE actor_id = :me AND subject_id = :s "
                        "ORDER BY seq DESC LIMIT 2"
                    ),
                    {"me": str(nurse.user_id), "s": str(subject_id)},
                )
            ).all()
            verification = await verify_log(session)
        assert sorted((e.action, e.detail["count"]) for e in entries) == [
            ("post.list", 1),
            ("post.mention_candidates", 2),
        ]
        assert verification.breaks == []

    async def test_perf2_a_pages_audit_entry_written_by_its_own_statement_counts_the_page_and_verifies(
        self, stack: Stack
    ) -> None:
        """The page appends its entry in the statement that reads it (no transaction of its own): the entry
        names the reader, their facility and the board, counts the threads shown, and its hash, made by the
        database around that count, is the one audit-verify recomputes."""
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        for n in range(3):
            await create_post(stack, nurse, subject_id, f'記録「{n}」\n改行と "引用" も')
        group_id = await group_with_members(stack, nurse)
        timeline = stack["timeline"]
        for path, shown in (
            (f"/subjects/{subject_id}/posts?limit=2", 2),
            (f"/subjects/{subject_id}/posts", 3),
            (f"/groups/{group_id}/posts", 0),
        ):
            response = await timeline.client.get(path, headers=nurse.headers)
            assert response.status_code == 200, response.text
            assert len(response.json()["items"]) == shown
        async with timeline.sessionmaker() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT subject_id, facility_id, target, detail FROM audit_log "
                        "WHERE actor_id = :me AND action = 'post.list' ORDER BY seq"
                    ),
                    {"me": str(nurse.user_id)},
                )
            ).all()
            verification = await verify_log(session)
        assert [(r.subject_id, r.facility_id, r.target, r.detail) for r in rows] == [
            (str(subject_id), str(nurse.facility_id), f"subject:{subject_id}", {"count": 2}),
            (str(subject_id), str(nurse.facility_id), f"subject:{subject_id}", {"count": 3}),
            (None, str(nurse.facility_id), f"group:{group_id}", {"count": 0}),
        ]
        assert verification.breaks == []

    async def test_perf2_a_refused_token_takes_no_connection_and_a_cursor_out_of_range_is_a_400(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        timeline = stack["timeline"]
        page = f"/subjects/{subject_id}/posts"
        checkouts: list[object] = []
        pool = timeline.app.state.engine.sync_engine.pool

        def checked_out(*args: Any) -> None:
            checkouts.append(args)

        event.listen(pool, "checkout", checked_out)
        try:
            refused = await timeline.client.get(page, headers={"Authorization": "Bearer not-a-token"})
            unsigned = await timeline.client.get(page)
        finally:
            event.remove(pool, "checkout", checked_out)
        assert (refused.status_code, unsigned.status_code) == (401, 401)
        assert checkouts == []
        # A time at the edge of the range in another zone: a bad cursor, not the driver's overflow (a 500).
        edge = base64.urlsafe_b64encode(f"0001-01-01T00:00:00+14:00|{uuid4()}".encode()).decode()
        response = await timeline.client.get(page, params={"cursor": edge}, headers=nurse.headers)
        assert response.status_code == 400, response.text
        assert response.json()["type"].endswith("bad-cursor")


class TestTimelineTokenVerificationCache:
    """The page's token check: the signature is verified once per token and the claims kept until the earlier
    of the token's expiry and five minutes, in a bounded LRU; revocation is not cached (the tests above)."""

    @staticmethod
    def verifier_and_signer(**options: Any) -> tuple[TokenVerifier, Any]:
        from identity import tokens

        key = tokens.new_signing_key()
        keys = JwksKeySet("http://identity.invalid/.well-known/jwks.json")
        keys.load({"keys": [tokens.public_jwk(key)]})
        verifier = TokenVerifier(keys, issuer="yui-identity", audience="yui", **options)

        def sign(ttl_s: int = 3600) -> str:
            return tokens.sign_access_token(
                key,
                issuer="yui-identity",
                audience="yui",
                user_id=uuid4(),
                tenant="demo",
                facility_id=uuid4(),
                roles=["staff"],
                name="テスト",
                ttl_s=ttl_s,
            )

        return verifier, sign

    @staticmethod
    def count_signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
        checked: list[str] = []
        decode = jwt.decode

        def counting(token: str, *args: Any, **kwargs: Any) -> Any:
            checked.append(token)
            return decode(token, *args, **kwargs)

        monkeypatch.setattr(jwt, "decode", counting)
        return checked

    @staticmethod
    def clock_moved_by(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
        now = time.time()
        monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: now + seconds))

    async def test_a_token_is_verified_once_and_kept_for_five_minutes(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        verifier, sign = self.verifier_and_signer()
        checked = self.count_signature_checks(monkeypatch)
        token = sign()
        first = await verifier.verify(token)
        assert await verifier.verify(token) == first and len(checked) == 1
        self.clock_moved_by(monkeypatch, 299)
        await verifier.verify(token)
        assert len(checked) == 1
        self.clock_moved_by(monkeypatch, 301)
        assert await verifier.verify(token) == first and len(checked) == 2

    async def test_a_token_is_kept_no_longer_than_it_lives(self, monkeypatch: pytest.MonkeyPatch) -> None:
        verifier, sign = self.verifier_and_signer()
        checked = self.count_signature_checks(monkeypatch)
        token = sign(ttl_s=60)
        await verifier.verify(token)
        self.clock_moved_by(monkeypatch, 61)
        await verifier.verify(token)  # verified again (PyJWT's own clock still finds it valid)
        assert len(checked) == 2

    async def test_the_cache_is_bounded_and_forgets_the_least_recently_used(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        verifier, sign = self.verifier_and_signer(cache_size=2)
        checked = self.count_signature_checks(monkeypatch)
        a, b, c = sign(), sign(), sign()
        for token in (a, b, a, c):  # c pushes out b, the least recently used
            await verifier.verify(token)
        await verifier.verify(a)
        assert checked == [a, b, c]
        await verifier.verify(b)
        assert checked == [a, b, c, b]

    async def test_an_invalid_token_is_refused_every_time(self, monkeypatch: pytest.MonkeyPatch) -> None:
        verifier, sign = self.verifier_and_signer()
        checked = self.count_signature_checks(monkeypatch)
        forged = sign()[:-4] + "AAAA"
        for _ in range(2):
            with pytest.raises(Problem) as refused:
                await verifier.verify(forged)
            assert refused.value.status == 401
        assert len(checked) == 2
