"""n2: new notifications arrive live (server-sent events) on every API replica, and a stream resumes."""

from __future__ import annotations

import asyncio
import json

from asgi_lifespan import LifespanManager
from identity import tokens
from notify.main import create_app
from notify.settings import Settings
from uuid6 import uuid7
from yui_common.events.timeline import PostCreatedV1

from services.notify.tests.notify_support import deliver, envelope, open_stream, served, team
from tests.support.stack import Stack


class TestLiveStream:
    async def test_n2_every_replica_streams_a_new_notification_and_a_stream_resumes_after_the_last_id(
        self, stack: Stack
    ) -> None:
        author, member = stack.staff(), stack.staff()
        subject_id = await team(stack, author, member)
        # A second API process of notify (another replica behind the gateway), idle enough to send heartbeats.
        replica = create_app(Settings(stream_heartbeat_s=0.2))
        async with LifespanManager(replica, startup_timeout=60):
            replica.state.token_verifier.keys.load({"keys": [tokens.public_jwk(stack.signing_key)]})
            await asyncio.wait_for(replica.state.live_hub.listening.wait(), 30)
            await asyncio.wait_for(stack["notify"].app.state.live_hub.listening.wait(), 30)
            async with (
                served(stack["notify"].app) as first_url,
                served(replica) as second_url,
                open_stream(first_url, member) as first,
                open_stream(second_url, member) as second,
            ):
                assert await second.next_comment() == "heartbeat"
                first_post = uuid7()
                await deliver(
                    stack,
                    envelope(
                        PostCreatedV1(subject_id=subject_id, post_id=first_post, author_id=author.user_id),
                        subject=subject_id,
                    ),
                )
                seen = [await first.next_event(), await second.next_event()]
                for event in seen:
                    assert event["event"] == "notification"
                    data = json.loads(event["data"])
                    assert data["params"]["post_id"] == str(first_post) and data["unread"] == 1
                assert seen[0]["id"] == seen[1]["id"]
                last_event_id = seen[0]["id"]

            # While nobody listens another post arrives; reconnecting with Last-Event-ID sends only that one.
            second_post = uuid7()
            await deliver(
                stack,
                envelope(
                    PostCreatedV1(subject_id=subject_id, post_id=second_post, author_id=author.user_id),
                    subject=subject_id,
                ),
            )
            async with (
                served(replica) as url,
                open_stream(url, member, last_event_id=last_event_id) as resumed,
            ):
                event = await resumed.next_event()
                assert json.loads(event["data"])["params"]["post_id"] == str(second_post)
                assert event["id"] > last_event_id

    async def test_n2_the_stream_needs_a_signed_in_user(self, stack: Stack) -> None:
        response = await stack["notify"].client.get("/notifications/stream")
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
