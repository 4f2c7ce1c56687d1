"""Prometheus metrics every service exposes (labels never carry personal data)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "yui_http_requests_total",
    "HTTP requests by route template, method and status",
    ["route", "method", "status"],
)
HTTP_ERRORS = Counter("yui_http_errors_total", "HTTP responses with status >= 500", ["route", "method"])
HTTP_DURATION = Histogram(
    "yui_http_request_duration_seconds",
    "HTTP request duration by route template",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge("yui_outbox_backlog", "Outbox events not yet published")
OUTBOX_OLDEST_AGE = Gauge("yui_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event")
OUTBOX_PUBLISHED = Counter("yui_outbox_published_total", "Events published by the outbox relay")
CONSUMED = Counter("yui_consumer_messages_total", "Messages handled by outcome", ["queue", "outcome"])
REDELIVERIES = Counter("yui_consumer_redeliveries_total", "Messages the broker delivered again", ["queue"])
DLQ_DEPTH = Gauge("yui_dlq_depth", "Messages waiting in a dead-letter queue", ["queue"])
AUDIT_UNSEALED_ROWS = Gauge(
    "yui_audit_unsealed_rows", "Committed audit entries the worker has not sealed yet"
)
AUDIT_UNSEALED_AGE = Gauge(
    "yui_audit_unsealed_age_seconds", "Age of the oldest committed audit entry not sealed yet"
)
