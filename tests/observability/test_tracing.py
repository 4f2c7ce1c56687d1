"""f5: one trace runs from the withdrawal request through the outbox, the broker and every consumer; metrics
name route templates, never raw ids."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from uuid import UUID

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from yui_common.telemetry import setup_tracing

from tests.support.stack import Stack, Staff, eventually

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@pytest.fixture
def spans(stack: Stack) -> Iterator[InMemorySpanExporter]:
    """Every span the in-process services finish while the test runs."""
    exporter = InMemorySpanExporter()
    setup_tracing(stack["consent"].settings, extra_processor=SimpleSpanProcessor(exporter))
    yield exporter
    # The provider keeps its processors for the session; a shut-down exporter simply stops collecting.
    exporter.clear()
    exporter.shutdown()


async def subject_with_consent(stack: Stack, doctor: Staff, nurse: Staff) -> UUID:
    consent = stack["consent"].client
    created = await consent.post(
        "/subjects",
        json={"name": "結 三郎", "name_kana": "ユイ サブロウ", "municipality_code": "232360"},
        headers=doctor.headers,
    )
    assert created.status_code == 201, created.text
    subject_id = UUID(created.json()["id"])
    added = await consent.post(
        f"/subjects/{subject_id}/care-team",
        json={"user_id": str(nurse.user_id), "facility_id": str(nurse.facility_id)},
        headers=doctor.headers,
    )
    assert added.status_code == 201, added.text
    # Invited members join (and see the subject) only by accepting.
    invitation = added.json()["id"]
    accepted = await consent.post(f"/care-team/invitations/{invitation}/accept", headers=nurse.headers)
    assert accepted.status_code == 200, accepted.text
    given = await consent.post(
        f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=doctor.headers
    )
    assert given.status_code == 201, given.text

    async def nurse_can_post() -> bool:
        response = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/posts", json={"body": "訪問"}, headers=nurse.headers
        )
        return response.status_code == 201

    await eventually(nurse_can_post, what="timeline to learn of the consent and the team")
    return subject_id


def one(spans: list[ReadableSpan], name: str, **attributes: str) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.name == name and all((s.attributes or {}).get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, f"expected one span {name!r} {attributes}, got {[s.name for s in spans]}"
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


class TestOneTraceAcrossTheCascade:
    async def test_f5_withdrawal_request_outbox_broker_and_every_consumer_share_one_trace(
        self, stack: Stack, spans: InMemorySpanExporter
    ) -> None:
        doctor, nurse = stack.staff(), stack.staff()
        subject_id = await subject_with_consent(stack, doctor, nurse)
        spans.clear()

        withdrawn = await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
        )
        assert withdrawn.status_code == 201, withdrawn.text
        withdrawal_id = withdrawn.json()["id"]

        async def cascade_complete() -> bool:
            listed = await stack["consent"].client.get(
                f"/subjects/{subject_id}/withdrawals", headers=doctor.headers
            )
            return bool(listed.json()[0]["complete"])

        await eventually(cascade_complete, what="the cascade to complete")

        def consumer_spans_finished() -> list[ReadableSpan] | None:
            finished = list(spans.get_finished_spans())
            names = [s.name for s in finished]
            wanted = ("timeline.support-stopped.v1 process", "notify.support-stopped.v1 process")
            return finished if all(n in names for n in wanted) else None

        # The report's step is committed inside the consumer span, so the span ends just after; wait for it.
        finished = await eventually(consumer_spans_finished, what="the cascade reports' consumer spans")

        request = next(
            s
            for s in finished
            if s.kind == SpanKind.SERVER and s.name == "POST /subjects/{subject_id}/withdrawals"
        )
        trace_id = request.context.trace_id
        in_trace = [s for s in finished if s.context.trace_id == trace_id]

        withdrawn_publish = one(in_trace, "consent.withdrawn.v1 publish")
        timeline_process = one(
            in_trace,
            "consent.withdrawn.v1 process",
            **{"messaging.destination.name": "timeline.consent-events"},
        )
        notify_process = one(
            in_trace,
            "consent.withdrawn.v1 process",
            **{"messaging.destination.name": "notify.consent-events"},
        )
        # timeline refuses the subject at once, then stops the posts in a follow-up of its own (same trace).
        stop_requested = one(in_trace, "timeline.support-stop-requested.v1 publish")
        stop_work = one(in_trace, "timeline.support-stop-requested.v1 process")
        timeline_report = one(in_trace, "timeline.support-stopped.v1 publish")
        notify_report = one(in_trace, "notify.support-stopped.v1 publish")
        timeline_report_seen = one(in_trace, "timeline.support-stopped.v1 process")
        notify_report_seen = one(in_trace, "notify.support-stopped.v1 process")

        # request -> relay publish -> each consumer -> (timeline: its follow-up) -> its report's publish ->
        # consent's consumer
        assert request.parent is None or not request.parent.is_remote
        assert parent_of(withdrawn_publish) == request.context.span_id
        assert withdrawn_publish.kind == SpanKind.PRODUCER
        assert parent_of(timeline_process) == withdrawn_publish.context.span_id
        assert parent_of(notify_process) == withdrawn_publish.context.span_id
        assert timeline_process.kind == notify_process.kind == SpanKind.CONSUMER
        assert parent_of(stop_requested) == timeline_process.context.span_id
        assert parent_of(stop_work) == stop_requested.context.span_id
        assert parent_of(timeline_report) == stop_work.context.span_id
        assert parent_of(notify_report) == notify_process.context.span_id
        assert parent_of(timeline_report_seen) == timeline_report.context.span_id
        assert parent_of(notify_report_seen) == notify_report.context.span_id
        for span in (timeline_report_seen, notify_report_seen):
            assert span.attributes["messaging.destination.name"] == "consent.cascade-reports"
        # The withdrawal's own event names the withdrawal this trace is about.
        assert withdrawn_publish.attributes["messaging.message.id"]
        assert withdrawal_id

    async def test_f5_audit_entry_of_the_withdrawal_carries_the_request_trace_id(
        self, stack: Stack, spans: InMemorySpanExporter
    ) -> None:
        from sqlalchemy import text

        doctor, nurse = stack.staff(), stack.staff()
        subject_id = await subject_with_consent(stack, doctor, nurse)
        spans.clear()
        withdrawn = await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
        )
        assert withdrawn.status_code == 201
        request = next(
            s
            for s in spans.get_finished_spans()
            if s.kind == SpanKind.SERVER and s.name == "POST /subjects/{subject_id}/withdrawals"
        )
        async with stack["consent"].sessionmaker() as session:
            trace_id = (
                await session.execute(
                    text(
                        "SELECT trace_id FROM audit_log WHERE subject_id = :s AND action = 'consent.withdraw'"
                    ),
                    {"s": str(subject_id)},
                )
            ).scalar_one()
        assert trace_id == format(request.context.trace_id, "032x")


def samples(exposition: str, metric: str) -> list[dict[str, str]]:
    """The label sets of every sample named ``metric`` in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return [
        dict(sample.labels)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == metric
    ]


class TestMetrics:
    async def test_f5_api_metrics_name_route_templates_never_raw_ids_and_show_outbox_backlog(
        self, stack: Stack
    ) -> None:
        staff = stack.staff()
        created = await stack["consent"].client.post(
            "/subjects",
            json={"name": "結 四郎", "name_kana": "ユイ シロウ", "municipality_code": "232360"},
            headers=staff.headers,
        )
        subject_id = created.json()["id"]
        read = await stack["consent"].client.get(f"/subjects/{subject_id}", headers=staff.headers)
        assert read.status_code == 200
        await stack["consent"].client.get(f"/subjects/{subject_id}/nothing-here", headers=staff.headers)

        response = await stack["consent"].client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        exposition = response.text

        requests = samples(exposition, "yui_http_requests_total")
        routes = {s["route"] for s in requests}
        assert "/subjects/{subject_id}" in routes
        assert {"route": "/subjects/{subject_id}", "method": "GET", "status": "200"} in requests
        assert "unmatched" in routes  # an unknown path is counted without its (attacker-chosen) text
        # The HTTP metrics' labels (the library's own consumer tests name their queues with ids, and share this
        # process's registry).
        raw = [
            line
            for line in exposition.splitlines()
            if line.startswith("yui_http") and UUID_PATTERN.search(line)
        ]
        assert not raw, f"a metric label carries a raw id: {raw[:5]}"
        assert subject_id not in exposition
        backlog = [line for line in exposition.splitlines() if line.startswith("yui_outbox_backlog ")]
        assert len(backlog) == 1 and float(backlog[0].split()[1]) >= 0
        assert "yui_outbox_oldest_age_seconds " in exposition
