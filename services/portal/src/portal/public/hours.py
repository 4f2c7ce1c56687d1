"""The operator's support hours (P5): is it within hours now, and when does the next opening come."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.models import PortalSettings

# Hours are the operator's local hours; every network so far is in Japan.
LOCAL_TIME = ZoneInfo("Asia/Tokyo")
# Longer than any closed period plus weekends: the search for the next opening always ends.
SEARCH_DAYS = 60


def _month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


@dataclass(frozen=True)
class SupportHours:
    weekdays: frozenset[int]
    opens: time
    closes: time
    closed_periods: tuple[tuple[tuple[int, int], tuple[int, int]], ...]
    holidays: frozenset[date]

    @classmethod
    def of(cls, settings: PortalSettings) -> SupportHours:
        return cls(
            weekdays=frozenset(settings.support_weekdays),
            opens=time.fromisoformat(settings.support_opens),
            closes=time.fromisoformat(settings.support_closes),
            closed_periods=tuple(
                (_month_day(start), _month_day(end))
                for start, end in (period.split("..") for period in settings.support_closed_periods)
            ),
            holidays=frozenset(date.fromisoformat(d) for d in settings.support_holidays),
        )

    def _in_closed_period(self, day: date) -> bool:
        here = (day.month, day.day)
        for start, end in self.closed_periods:
            # A period may run over the new year (12-29..01-03).
            if (start <= here <= end) if start <= end else (here >= start or here <= end):
                return True
        return False

    def is_open_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays and not self._in_closed_period(day)

    def is_within(self, moment: datetime) -> bool:
        local = moment.astimezone(LOCAL_TIME)
        return self.is_open_day(local.date()) and self.opens <= local.time() < self.closes

    def next_opening(self, moment: datetime) -> datetime | None:
        """``moment`` itself when within hours, else the next time the operator's desk opens (None: never)."""
        if self.is_within(moment):
            return moment
        local = moment.astimezone(LOCAL_TIME)
        for offset in range(SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            opening = datetime.combine(day, self.opens, tzinfo=LOCAL_TIME)
            if self.is_open_day(day) and opening > local:
                return opening
        return None


MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def month_day_label(text: str, lang: str) -> str:
    """ "12-29" as people write it: 「12月29日」, "29 Dec"."""
    month, day = _month_day(text)
    return f"{month}月{day}日" if lang == "ja" else f"{day} {MONTHS_EN[month - 1]}"


def closed_period_label(period: str, lang: str) -> str:
    """A yearly closed period ("12-29..01-03") in words: 「12月29日〜1月3日」, "29 Dec – 3 Jan"; a single day
    ("08-15..08-15") as that day. A period the settings could not hold is shown as it is."""
    try:
        start, end = period.split("..")
        first, last = month_day_label(start, lang), month_day_label(end, lang)
    except (ValueError, IndexError):
        return period
    if first == last:
        return first
    return f"{first}〜{last}" if lang == "ja" else f"{first} – {last}"
