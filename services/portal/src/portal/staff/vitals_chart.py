"""Vital signs as the staff UI draws them: the measures (form ranges, chart axes, normal bands) and one SVG
chart per measure, built here on the server as markup (no charting script; CSP allows no inline script or
style, so every look is a class styled in staff.css)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from markupsafe import Markup, escape
from yui_common.web import DISPLAY_TIMEZONE


@dataclass(frozen=True)
class Field:
    """One value of the form and of timeline's VitalsCreate: its accepted range (timeline's), its step and
    the keyboard a tablet shows for it."""

    name: str
    low: float
    high: float
    decimals: int = 0  # 1 for temperature and weight (0.1 steps), 0 for whole numbers

    @property
    def step(self) -> str:
        return "0.1" if self.decimals else "1"

    @property
    def inputmode(self) -> str:
        return "decimal" if self.decimals else "numeric"

    def shown(self, value: float) -> str:
        return f"{value:.{self.decimals}f}"


@dataclass(frozen=True)
class Measure:
    """One chart: the fields it draws as lines (their unit is the first's), its y axis (fixed bounds and tick
    step, widened by whole steps when a value falls outside) and its normal bands, lightly shaded."""

    key: str
    fields: tuple[Field, ...]
    axis_low: float
    axis_high: float
    tick: float
    normal: tuple[tuple[float, float], ...] = ()


SYSTOLIC = Field("systolic", 60, 260)
DIASTOLIC = Field("diastolic", 30, 160)
FIELDS: tuple[Field, ...] = (
    SYSTOLIC,
    DIASTOLIC,
    Field("pulse", 20, 250),
    Field("spo2", 50, 100),
    Field("temperature", 32.0, 43.0, decimals=1),
    Field("respiration", 4, 60),
    Field("weight", 2.0, 300.0, decimals=1),
    Field("glucose", 20, 800),
)
FIELDS_BY_NAME = {f.name: f for f in FIELDS}

MEASURES: tuple[Measure, ...] = (
    # Blood pressure: the systolic and diastolic targets of a home measurement, two bands that do not overlap.
    Measure("blood_pressure", (SYSTOLIC, DIASTOLIC), 40, 200, 40, ((60, 90), (100, 140))),
    Measure("pulse", (FIELDS_BY_NAME["pulse"],), 40, 140, 20, ((60, 100),)),
    Measure("spo2", (FIELDS_BY_NAME["spo2"],), 80, 100, 5, ((96, 100),)),
    Measure("temperature", (FIELDS_BY_NAME["temperature"],), 35, 40, 1, ((36.0, 37.4),)),
    Measure("respiration", (FIELDS_BY_NAME["respiration"],), 5, 35, 5, ((12, 20),)),
    # Weight has no normal band and no one range that suits everyone: the axis follows the values (below).
    Measure("weight", (FIELDS_BY_NAME["weight"],), 0, 0, 5),
    Measure("glucose", (FIELDS_BY_NAME["glucose"],), 50, 300, 50, ((70, 140),)),
)

# The drawing's own units (the SVG scales to the page's width through its viewBox).
WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 14, 12, 30
POINT_RADIUS = 5


def measured(entries: Iterable[Any], measure: Measure) -> list[Any]:
    """The entries holding at least one of the measure's values."""
    return [e for e in entries if any(getattr(e, f.name, None) is not None for f in measure.fields)]


def y_bounds(measure: Measure, values: Sequence[float]) -> tuple[float, float]:
    """The fixed bounds, widened by whole tick steps to hold every value; weight's follow its values."""
    step = measure.tick
    if measure.axis_low == measure.axis_high:  # weight: a window around the values
        low = math.floor((min(values) - step) / step) * step if values else 40.0
        high = math.ceil((max(values) + step) / step) * step if values else 80.0
        return max(low, 0.0), high
    low, high = measure.axis_low, measure.axis_high
    if values:
        low = min(low, math.floor(min(values) / step) * step)
        high = max(high, math.ceil(max(values) / step) * step)
    return low, high


def window(days: int, now: datetime) -> tuple[datetime, datetime]:
    """The chart's x axis: ``days`` whole days in Japan time, ending with today's midnight to come."""
    today = now.astimezone(DISPLAY_TIMEZONE).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=DISPLAY_TIMEZONE)
    return start, start + timedelta(days=days)


def day_labels(days: int) -> int:
    """Every how many days the x axis is labelled (about seven labels, whatever the period)."""
    return max(1, math.ceil(days / 7))


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _at(value: float) -> str:
    return f"{value:.1f}"


def chart(
    measure: Measure,
    entries: Sequence[Any],
    *,
    days: int,
    now: datetime,
    words: Callable[[str], str],
) -> Markup:
    """One measure's chart over the last ``days`` days as an accessible SVG: a line per field, each point
    with a ``<title>`` (when, which, value and unit) for its tooltip. ``entries`` have ``measured_at`` and the
    fields as attributes (timeline's VitalsRead); ``words(key)`` names a measure, a field, a unit or the chart."""
    start, end = window(days, now)
    span = (end - start).total_seconds()
    shown = [e for e in measured(entries, measure) if start <= _aware(e.measured_at) < end]
    values = [float(v) for e in shown for f in measure.fields if (v := getattr(e, f.name, None)) is not None]
    low, high = y_bounds(measure, values)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: datetime) -> float:
        return LEFT + (_aware(moment) - start).total_seconds() / span * plot_w

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * plot_h

    title = words(f"vitals.measure.{measure.key}")
    unit = words(f"vitals.unit.{measure.fields[0].name}")
    parts: list[str] = [
        f'<svg class="vitals-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(words("vitals.chart.label").format(measure=title, days=days))}" '
        f'data-measure="{measure.key}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)} ({escape(unit)})</title>",
    ]
    for band_low, band_high in measure.normal:
        top, bottom = y(min(band_high, high)), y(max(band_low, low))
        if bottom > top:
            parts.append(
                f'<rect class="normal-band" x="{LEFT}" y="{_at(top)}" width="{plot_w}" height="{_at(bottom - top)}">'
                f"<title>{escape(words('vitals.chart.normal'))} {_number(band_low)}–{_number(band_high)} "
                f"{escape(unit)}</title></rect>"
            )
    parts.append('<g class="axis">')
    tick = low
    while tick <= high + 1e-9:
        at = _at(y(tick))
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at}" y2="{at}"/>')
        parts.append(f'<text class="tick y" x="{LEFT - 6}" y="{at}">{_number(tick)}</text>')
        tick += measure.tick
    every = day_labels(days)
    for n in range(days + 1):
        if n % every and n != days:
            continue  # over months a line a day is noise (and a year's page held 2,000 of them): labelled days only
        at = _at(x(start + timedelta(days=n)))
        parts.append(f'<line class="day" x1="{at}" x2="{at}" y1="{TOP}" y2="{TOP + plot_h}"/>')
        if n < days and n % every == 0:
            # A day's label sits under the day when every day has one, else at the line where it starts.
            day = (start + timedelta(days=n)).date()
            where = _at(x(start + timedelta(days=n, hours=12))) if every == 1 else at
            anchor = "x" if every == 1 else "x start"
            parts.append(
                f'<text class="tick {anchor}" x="{where}" y="{HEIGHT - 8}">{day.month}/{day.day}</text>'
            )
    parts.append("</g>")
    # Each entry's x and its time as a tooltip says it, once for every line it is on.
    placed = {
        id(e): (
            _at(x(e.measured_at)),
            _aware(e.measured_at).astimezone(DISPLAY_TIMEZONE).strftime("%Y-%m-%d %H:%M"),
        )
        for e in shown
    }
    for field in measure.fields:
        points = [(placed[id(e)], float(v)) for e in shown if (v := getattr(e, field.name, None)) is not None]
        if not points:
            continue
        name, said_unit = escape(words(f"vitals.field.{field.name}")), escape(unit)
        parts.append(f'<g class="series {field.name}">')
        if len(points) > 1:
            line = " ".join(f"{at},{_at(y(v))}" for (at, _), v in points)
            parts.append(f'<polyline class="line" points="{line}"/>')
        for (at, when), value in points:
            parts.append(
                f'<circle class="point" cx="{at}" cy="{_at(y(value))}" r="{POINT_RADIUS}">'
                f"<title>{when} {name} {field.shown(value)} {said_unit}</title></circle>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text in it went through escape() above)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def cells(entry: Any, measures: Sequence[Measure] = MEASURES) -> list[str]:
    """An entry's values as the table shows them, one per measure ("132/78" for blood pressure), "" when not
    taken."""
    shown = []
    for measure in measures:
        values = [getattr(entry, f.name, None) for f in measure.fields]
        if all(v is None for v in values):
            shown.append("")
        else:
            shown.append(
                "/".join(
                    "—" if v is None else f.shown(v) for f, v in zip(measure.fields, values, strict=True)
                )
            )
    return shown


def within(entries: Iterable[Any], *, days: int, now: datetime) -> list[Any]:
    """The entries measured in the period's days (timeline's ``days`` reach back a rolling 24 h each, a little
    further than the first day's midnight)."""
    start, end = window(days, now)
    return [e for e in entries if start <= _aware(e.measured_at) < end]


def charts(
    entries: Sequence[Any], *, days: int, now: datetime, words: Callable[[str], str]
) -> list[tuple[Measure, Markup]]:
    """A chart for each measure that has a value in the period, in the measures' order."""
    shown = within(entries, days=days, now=now)
    return [(m, chart(m, shown, days=days, now=now, words=words)) for m in MEASURES if measured(shown, m)]
