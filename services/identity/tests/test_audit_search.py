"""Identity serves the audit-entries contract (S2); the admin audit search reads its form, exports safely."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

from identity.audit_search.service import CSV_COLUMNS, csv_document, inert, read_form
from yui_common.audit_api import AuditEntryRead, encode_cursor

from services.consent.tests.test_audit_search import AuditEntriesContract

TOKYO = ZoneInfo("Asia/Tokyo")


class TestIdentityAuditEntries(AuditEntriesContract):
    service = "identity"


def entry(**fields: object) -> AuditEntryRead:
    moment = datetime(2026, 11, 22, 3, 4, 5, 678901, tzinfo=UTC)
    values: dict[str, object] = {
        "service": "timeline",
        "position": 7,
        "id": str(uuid4()),
        "occurred_at": moment,
        "tenant": "demo",
        "actor_id": str(uuid4()),
        "facility_id": None,
        "subject_id": str(uuid4()),
        "action": "post.read",
        "target": None,
        "detail": {},
        "trace_id": None,
        "prev_hash": "0" * 64,
        "hash": "f" * 64,
        "cursor": encode_cursor(moment, 7),
        **fields,
    }
    return AuditEntryRead.model_validate(values)


class TestAuditExport:
    def test_s2_cells_that_would_start_a_formula_stay_text(self) -> None:
        for hostile in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
            assert inert(hostile) == "'" + hostile
        for plain in ("post.read", "login:=x", "", None, 12, "結 花子"):
            assert inert(plain) == ("" if plain is None else str(plain))

    def test_s2_csv_is_rfc4180_utf8_with_bom_in_the_networks_time(self) -> None:
        awkward = entry(target='a "quoted", multi\r\nline value', detail={"名前": "結", "n": 1})
        document = csv_document([awkward], lang="en", zone=TOKYO)
        assert document.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(document.decode("utf-8-sig"), newline="")))
        assert rows[0][:3] == ["Time", "Service", "Action"]
        row = dict(zip(CSV_COLUMNS, rows[1], strict=True))
        assert row["target"] == 'a "quoted", multi\r\nline value'
        assert row["occurred_at"] == "2026-11-22T12:04:05.678901+09:00"
        assert row["service"] == "Timeline" and row["position"] == "7"
        assert row["detail"] == '{"n": 1, "名前": "結"}'


class TestAuditForm:
    def test_s2_times_without_an_offset_are_the_networks_local_time(self) -> None:
        form = read_form({"since": "2026-11-22T09:00", "until": "2026-11-22T10:00:00+00:00"}, TOKYO)
        assert form.errors == []
        assert form.audit_filter.since == datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
        assert form.audit_filter.until == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

    def test_s2_unreadable_or_reversed_times_are_reported(self) -> None:
        assert read_form({"since": "きのう"}, TOKYO).errors == ["audit.error.since"]
        reversed_range = read_form({"since": "2026-11-22T10:00", "until": "2026-11-22T09:00"}, TOKYO)
        assert reversed_range.errors == ["audit.error.range"]
        assert read_form({"subject_id": "x" * 201}, TOKYO).errors == ["audit.error.subject_id"]
        assert read_form({"limit": "many"}, TOKYO).errors == ["audit.error.limit"]
