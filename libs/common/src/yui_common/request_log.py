"""One JSON log line per HTTP request, and the trace id every log line of a request or a message carries."""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_log = logging.getLogger("yui.request")

# The trace id of the request or message being handled, for log lines written while no span records one
# (no OTLP exporter, the `make run` default, makes no spans at all).
_trace_id: ContextVar[str | None] = ContextVar("yui_trace_id", default=None)

# W3C Trace Context: version "-" trace id "-" parent id "-" flags; version ff and an all-zero id are invalid.
_TRACEPARENT = re.compile(r"^(?!ff)[0-9a-f]{2}-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")

# Probes and scrapes: a line each would drown the requests people look for.
_UNLOGGED_PATHS = ("/healthz", "/readyz", "/metrics")


def recording_span_trace_id() -> str | None:
    """The trace id of the current span, if one is recording (tracing on); its trace is the one to log."""
    span = trace.get_current_span()
    if not span.is_recording():
        return None
    return format(span.get_span_context().trace_id, "032x")


def trace_id_from_traceparent(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` value, or None when there is none or it is malformed."""
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent.strip())
    return match.group(1) if match else None


def new_trace_id() -> str:
    """A random W3C trace id (16 bytes, never all zero), for a request that came without one."""
    while (trace_id := secrets.token_hex(16)) == "0" * 32:
        pass  # pragma: no cover - one chance in 2**128
    return trace_id


def log_trace_id() -> str | None:
    """The trace id a log line written now belongs to: the recording span's, else the request's or message's."""
    return recording_span_trace_id() or _trace_id.get()


@contextlib.contextmanager
def trace_id_bound(traceparent: str | None) -> Iterator[str]:
    """Log lines written inside carry the trace id of ``traceparent`` (an event's), or a new one."""
    trace_id = trace_id_from_traceparent(traceparent) or new_trace_id()
    token = _trace_id.set(trace_id)
    try:
        yield trace_id
    finally:
        _trace_id.reset(token)


class TraceIdLogFilter(logging.Filter):
    """Stamps ``trace_id`` on each record as it is written, while the request's context is still current
    (a formatter may run later, elsewhere). Installed on the handler: a logger's own filters would miss the
    records its children propagate to it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "trace_id", None) is None:
            record.trace_id = log_trace_id()
        return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestLogMiddleware:
    """Binds each HTTP request's trace id and, after the response, logs one line about it: method, route
    template, status, duration and trace id. Never the raw path (it may carry ids), a query string or a body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).endswith(_UNLOGGED_PATHS):
            await self.app(scope, receive, send)
            return
        trace_id = (
            recording_span_trace_id()
            or trace_id_from_traceparent(_header(scope, b"traceparent"))
            or new_trace_id()
        )
        token = _trace_id.set(trace_id)
        started = time.perf_counter()
        status = 500  # what the server answers if the application fails before it starts a response

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "GET")
            fields: dict[str, Any] = {
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "trace_id": trace_id,
            }
            request_log.info("%s %s %s", method, route, status, extra=fields)
            _trace_id.reset(token)
