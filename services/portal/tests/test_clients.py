"""The portal's service clients: one pooled connection per service, every refusal one ServiceProblem."""

from __future__ import annotations

from uuid import uuid4

import httpx
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


class FlakyNetwork(httpx.AsyncBaseTransport):
    """The network between the portal and a service: the first ``failures`` requests fail with ``error``
    (a keep-alive connection the service already closed, or no service at all), then the service answers."""

    def __init__(self, error: type[httpx.TransportError], failures: int) -> None:
        self.error, self.failures, self.requests = error, failures, []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.method)
        if len(self.requests) <= self.failures:
            raise self.error("connection closed", request=request)
        return httpx.Response(200, json=[])


def app_over(network: httpx.AsyncBaseTransport) -> FastAPI:
    app = FastAPI()
    app.state.service_transports = {"consent": network}
    return app


class TestNetworkFailures:
    async def test_a_read_on_a_connection_the_service_closed_goes_once_more(self) -> None:
        network = FlakyNetwork(httpx.ReadError, failures=1)
        assert await ConsentClient(browser_request(app_over(network)), "token").my_invitations() == []
        assert network.requests == ["GET", "GET"]

    async def test_a_write_is_never_repeated_and_a_service_out_of_reach_is_a_503_problem(self) -> None:
        network = FlakyNetwork(httpx.ReadError, failures=1)
        client = ConsentClient(browser_request(app_over(network)), "token")
        with pytest.raises(ServiceProblem) as refused:
            await client.answer_invitation(uuid4(), "accept")
        assert (refused.value.status, network.requests) == (503, ["POST"])
        unreachable = ConsentClient(browser_request(app_over(FlakyNetwork(httpx.ConnectError, 9))), "token")
        with pytest.raises(ServiceProblem) as missing:
            await unreachable.my_invitations()
        assert missing.value.status == 503 and not missing.value.session_ended
