"""The shared web layer's helpers."""

from __future__ import annotations

from datetime import UTC, datetime

from yui_common.web import local_time


def test_times_are_shown_in_japans_time_whatever_the_servers_zone() -> None:
    assert local_time("2026-11-22T04:22:00+00:00") == "2026-11-22 13:22"
    assert local_time(datetime(2026, 12, 31, 15, 30, tzinfo=UTC)) == "2027-01-01 00:30"
    assert local_time(datetime(2026, 12, 31, 15, 30, tzinfo=UTC), with_time=False) == "2027-01-01"
    assert local_time(None) == ""
    assert local_time("not a time") == "not a time"
