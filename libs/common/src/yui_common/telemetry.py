"""OpenTelemetry tracing setup, W3C context propagation helpers and structured JSON logs."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from yui_common.request_log import TraceIdLogFilter, log_trace_id
from yui_common.settings import CommonSettings

tracer = trace.get_tracer("yui")
_provider: TracerProvider | None = None


def setup_tracing(
    settings: CommonSettings, *, extra_processor: SpanProcessor | None = None
) -> TracerProvider:
    """Install the process-wide tracer provider once; exporters are added only when configured."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": f"yui-{settings.service_name}"}))
        if settings.otel_exporter_otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(_provider)
    if extra_processor is not None:
        _provider.add_span_processor(extra_processor)
    return _provider


def tracing_enabled() -> bool:
    """Whether a span started now would reach an exporter.

    Services always install the SDK provider, with a processor only when an OTLP endpoint is set (or a test
    adds one). Without a processor a span is still created, timed and dropped, and the trace context is still
    injected into every outbox row and message: per event, that was measurable CPU for nothing. Checked on
    each use (a few attribute reads), because a processor can be added while the process runs.
    """
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        # The SDK keeps its processors only on this private attribute; if it moves, assume tracing is on.
        processors = getattr(getattr(provider, "_active_span_processor", None), "_span_processors", None)
        return processors is None or bool(processors)
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def current_trace_headers() -> dict[str, str]:
    """The current W3C trace context (traceparent, tracestate) as a dict to store or send."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(headers: Mapping[str, Any] | None) -> otel_context.Context:
    carrier = {k: str(v) for k, v in (headers or {}).items() if isinstance(v, str | bytes)}
    return propagate.extract(carrier)


def current_trace_id() -> str | None:
    """The trace this work belongs to (for audit entries): the current span's, or, when no span is made because
    nothing exports them, the trace id the request log bound from the caller's traceparent (or made up)."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return log_trace_id()
    return format(span_context.trace_id, "032x")


# The ``extra`` fields a line may carry: the consumer runner's, and the request log's (yui_common.request_log).
_LOGGED_EXTRAS = ("service", "event_type", "queue", "message_id", "method", "route", "status", "duration_ms")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the trace id; never put a subject's personal data in a message."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Stamped by TraceIdLogFilter when the record was written; asked now for a handler without the filter.
        trace_id = getattr(record, "trace_id", None) or log_trace_id()
        if trace_id:
            entry["trace_id"] = trace_id
        for key in _LOGGED_EXTRAS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(settings: CommonSettings) -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonLogFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(TraceIdLogFilter())
    root.handlers = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    # httpx logs every request at INFO: in the portal's and identity's calls to other services that is a log
    # line per call, the access log's job (the gateway's), and measurable CPU on a busy page.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
