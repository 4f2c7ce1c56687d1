"""The portal's service clients: one pooled connection per service, every refusal one ServiceProblem."""

from __future__ import annotations

from uuid import uuid4

import pytest
from fastapi import FastAPI, Request
from portal.clients import ServiceProblem, close_service_clients
from portal.clients.base import connection
from portal.clients.consent import ConsentClient
from portal.clients.timeline import Conversation, TimelineClient

from tests.support.stack import Stack


def browser_request(app: FastAPI, **headers: str) -> Request:
    """A browser's request to the portal as a page handler sees it (the clients read its app and headers)."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "app": app, "method": "GET", "path": "/staff", "headers": raw})


class TestConnections:
    async def test_the_clients_of_one_service_share_one_keep_alive_connection_until_shutdown(
        self, stack: Stack
    ) -> None:
        app = stack["portal"].app
        first = ConsentClient(browser_request(app), "token").http
        assert ConsentClient(browser_request(app), "other-token").http is first
        assert connection(app, "timeline") is not first
        await close_service_clients(app)
        assert first.is_closed
        assert connection(app, "consent") is not first  # opened again on the next use

    async def test_calls_carry_the_staff_token_and_what_the_gateway_said_about_the_browser(
        self, stack: Stack
    ) -> None:
        request = browser_request(
            stack["portal"].app,
            **{"Accept-Language": "en", "X-Forwarded-For": "192.0.2.7", "X-Unrelated": "no"},
        )
        client = TimelineClient(request, "the-token")
        assert client.headers == {
            "x-forwarded-for": "192.0.2.7",
            "accept-language": "en",
            "Authorization": "Bearer the-token",
        }


class TestRefusals:
    async def test_a_problem_answer_becomes_a_service_problem_with_its_fields(self, stack: Stack) -> None:
        staff = stack.staff(tenant=f"cli-{uuid4().hex[:8]}")
        consent = ConsentClient(browser_request(stack["portal"].app), staff.token)
        with pytest.raises(ServiceProblem) as refused:
            await consent.subject(uuid4())
        assert refused.value.status in (403, 404)
        assert refused.value.slug in ("forbidden", "not-found")
        assert refused.value.title and not refused.value.session_ended

    async def test_a_token_the_service_does_not_accept_is_an_ended_session(self, stack: Stack) -> None:
        timeline = TimelineClient(browser_request(stack["portal"].app), "not-a-token")
        with pytest.raises(ServiceProblem) as refused:
            await timeline.page(Conversation("subjects", uuid4()), limit=1)
        assert refused.value.status == 401 and refused.value.session_ended
