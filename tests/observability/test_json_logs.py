"""O3: every service writes one JSON line per request, and every log line of a request or an event carries
its trace id, with or without an OTLP exporter."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import aio_pika
import pytest
from yui_common.bus.publisher import message_for
from yui_common.events import Envelope, envelope_for
from yui_common.events.portal import NoticePublishedV1
from yui_common.telemetry import JsonLogFormatter

from tests.support.stack import Stack, Staff, eventually

HEX_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

# One route with an id in its path per service: the line must name the template, never the id.
ROUTES = {
    "identity": ("GET", "/users/{user_id}"),
    "consent": ("GET", "/subjects/{subject_id}"),
    "timeline": ("GET", "/posts/{post_id}"),
    "portal": ("GET", "/notices/{notice_id}"),
    "notify": ("POST", "/notifications/{notification_id}/read"),
}


class JsonLines(logging.Handler):
    """Keeps every line the services' JSON log handler would write, parsed."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.raw.append(line)
        self.lines.append(json.loads(line))

    def requests(self, route: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["logger"] == "yui.request" and line.get("route") == route]


@pytest.fixture
def json_lines(stack: Stack) -> Iterator[JsonLines]:
    """A copy of the handler the services' logging setup installed: its formatter and its filters."""
    root = logging.getLogger()
    installed = next(h for h in root.handlers if isinstance(h.formatter, JsonLogFormatter))
    capture = JsonLines()
    capture.setFormatter(installed.formatter)
    for log_filter in installed.filters:
        capture.addFilter(log_filter)
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)


def new_traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


async def call(stack: Stack, service: str, staff: Staff, headers: dict[str, str]) -> tuple[str, int]:
    """Call the service's route with a fresh id and a query string; returns the raw path and the status."""
    method, template = ROUTES[service]
    raw_id = str(uuid4())
    path = re.sub(r"\{[a-z_]+\}", raw_id, template)
    response = await stack[service].client.request(
        method, path, params={"q": "query-text-never-logged"}, headers={**staff.headers, **headers}
    )
    return raw_id, response.status_code


class TestRequestLines:
    @pytest.mark.parametrize("service", sorted(ROUTES))
    async def test_o3_request_line_carries_the_callers_trace_id_and_the_route_template(
        self, stack: Stack, json_lines: JsonLines, service: str
    ) -> None:
        trace_id, traceparent = new_traceparent()
        raw_id, status = await call(stack, service, stack.staff(), {"traceparent": traceparent})

        method, template = ROUTES[service]
        lines = [line for line in json_lines.requests(template) if line.get("trace_id") == trace_id]
        assert len(lines) == 1, json_lines.lines
        line = lines[0]
        assert line["method"] == method
        assert line["status"] == status
        assert isinstance(line["duration_ms"], float | int) and line["duration_ms"] >= 0
        written = [raw for raw in json_lines.raw if trace_id in raw]
        assert not any(raw_id in raw or "query-text-never-logged" in raw for raw in written), written

    @pytest.mark.parametrize("service", sorted(ROUTES))
    async def test_o3_request_without_traceparent_gets_a_fresh_trace_id(
        self, stack: Stack, json_lines: JsonLines, service: str
    ) -> None:
        staff = stack.staff()
        await call(stack, service, staff, {})
        await call(stack, service, staff, {})

        _, template = ROUTES[service]
        trace_ids = [line.get("trace_id", "") for line in json_lines.requests(template)]
        assert len(trace_ids) == 2, json_lines.lines
        assert all(HEX_TRACE_ID.match(t) and t != "0" * 32 for t in trace_ids), trace_ids
        assert trace_ids[0] != trace_ids[1]

    async def test_o3_probes_write_no_request_line(self, stack: Stack, json_lines: JsonLines) -> None:
        for path in ("/healthz", "/metrics"):
            assert (await stack["consent"].client.get(path)).status_code == 200
        assert not [line for line in json_lines.lines if line["logger"] == "yui.request"]


class TestConsumerLines:
    async def test_o3_a_consumers_log_line_carries_the_events_trace_id(
        self, stack: Stack, json_lines: JsonLines, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from notify.consumers.portal import subscription

        handler_log = logging.getLogger("notify.consumers.portal")
        real_handler = subscription.handlers[NoticePublishedV1.event_type]

        async def handler_that_logs(session: Any, envelope: Envelope, data: Any) -> None:
            handler_log.info("notice published: telling the network's users")
            await real_handler(session, envelope, data)

        monkeypatch.setitem(subscription.handlers, NoticePublishedV1.event_type, handler_that_logs)

        trace_id, traceparent = new_traceparent()
        notice = NoticePublishedV1(notice_id=uuid4(), kind="notice", audience="users", title="保守のお知らせ")
        envelope = envelope_for(notice, tenant=f"o3-{uuid4().hex[:8]}").model_copy(
            update={"traceparent": traceparent}
        )
        # As the relay sends an event made in a traced request: the trace in the envelope and in the headers.
        connection = await aio_pika.connect(stack["notify"].settings.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.default_exchange.publish(
                message_for(envelope, {"traceparent": traceparent}), routing_key=subscription.queue
            )

        def handler_line() -> list[dict[str, Any]]:
            return [line for line in json_lines.lines if line["logger"] == handler_log.name]

        lines = await eventually(handler_line, what="the consumer's log line")
        assert [line.get("trace_id") for line in lines] == [trace_id]
