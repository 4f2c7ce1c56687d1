"""The emergency sheet (救急医療情報シート, rec1): a subject's summary on one A4 page for the 救急医療情報キット on the
fridge, drawn with reportlab and its built-in Japanese CID font (no font file: the PDF viewer brings the
glyphs). Long text is wrapped; when the page would overflow, the longest parts are cut with 「…（続きは画面で）」,
the allergies last. The sheet is for the ambulance crew, so it is in Japanese whatever the reader's language."""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from reportlab.lib.colors import HexColor, white
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from yui_common.people import PersonRef
from yui_common.web import DISPLAY_TIMEZONE, catalogue, local_time, translate

from portal.clients.consent import Subject
from portal.clients.timeline import Summary, SummaryContent
from portal.staff.pages import japanese_day

FONT = "HeiseiKakuGo-W5"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
LANG = "ja"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 36.0
LABEL_WIDTH = 108.0
PADDING = 5.0
TABLE_WIDTH = PAGE_WIDTH - 2 * MARGIN
VALUE_WIDTH = TABLE_WIDTH - LABEL_WIDTH - 2 * PADDING
BODY_SIZE = 10.5
LABEL_SIZE = 9.5
NOTE_SIZE = 8.5
FOOT_SIZE = 8.5
TITLE_SIZE = 20.0
# The caps tried in turn on each part's lines until the page holds everything (None: nothing cut).
LINE_CAPS: tuple[int | None, ...] = (None, 14, 10, 8, 6, 4, 3, 2, 1)
# Characters a line does not start with (kinsoku): they stay at the end of the line before, hanging over.
NO_LINE_START = frozenset(
    "、。，．,.・：；:;？！?!）」』】〕〉》)]}ー…‥ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ％%"
)
GETA = "〓"  # drawn for a character the font has no glyph for

INK = HexColor("#1f2933")
MUTED = HexColor("#4a545d")
RULE = HexColor("#8a959e")
LABEL_FILL = HexColor("#eceff1")
ALERT = HexColor("#b42318")
ALERT_INK = HexColor("#7a1a12")


def words(key: str, **params: object) -> str:
    return translate(LANG, key, **params)


@dataclass(frozen=True)
class Sheet:
    """What the sheet shows: the subject as consent gives them, the summary as timeline gives it, and when."""

    subject: Subject
    summary: Summary
    network: str | None
    printed_at: datetime


@dataclass
class Part:
    """One row of the sheet's table: a label, its text (one paragraph a line at least), and how it is drawn."""

    label: str
    paragraphs: list[str]
    note: str = ""  # a small line under the text: who recorded it, and when
    size: float = BODY_SIZE
    alert: bool = False  # the allergies: a red label, larger text
    floor: int = 1  # lines it keeps however full the page is (the allergies: cut only once all else is)


@dataclass
class Laid:
    part: Part
    lines: list[str]
    labels: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> float:
        text = len(self.lines) * leading(self.part.size) + len(self.notes) * leading(NOTE_SIZE)
        return max(text, len(self.labels) * leading(LABEL_SIZE)) + 2 * PADDING


def leading(size: float) -> float:
    return size * 1.38


def width_of(text: str, size: float) -> float:
    return float(pdfmetrics.stringWidth(text, FONT, size))


def undrawable(text: str) -> list[str]:
    """The characters of ``text`` the font cannot draw, each once: the CID font encodes UCS-2, so nothing past
    the Basic Multilingual Plane (𠮷, U+20BB7, in real names), nor a lone surrogate, private-use or unassigned
    code point, reaches the page."""
    return list(
        dict.fromkeys(c for c in text if ord(c) > 0xFFFF or unicodedata.category(c) in ("Cs", "Co", "Cn"))
    )


def drawable(text: str) -> str:
    """``text`` with each character the font cannot draw as 〓 (the geta mark printers use for a missing kanji),
    so the reader sees that something is there rather than nothing."""
    missing = undrawable(text)
    return "".join(GETA if c in missing else c for c in text) if missing else text


def wrap(text: str, size: float, width: float) -> list[str]:
    """Lines no wider than ``width``: broken between any two characters of Japanese text, at a space between
    Latin words, not before a closing mark (one such mark may hang past ``width``; a run of them breaks
    after it); each newline starts a line. Characters the font cannot draw come out as 〓."""
    lines: list[str] = []
    for paragraph in drawable(text).split("\n"):
        line, used = "", 0.0
        for char in paragraph:
            step = width_of(char, size)
            hangs = char in NO_LINE_START and used <= width  # nothing hanging yet on this line
            if used + step <= width or not line or hangs:
                line, used = line + char, used + step
                continue
            space = line.rfind(" ")
            if char.isascii() and char.isalnum() and line[-1].isascii() and line[-1].isalnum() and space > 0:
                lines.append(line[:space])
                line = line[space + 1 :] + char
            else:
                lines.append(line.rstrip())
                line = "" if char == " " else char
            used = width_of(line, size)
        lines.append(line)
    return lines


def cut(lines: list[str], cap: int | None, size: float, width: float) -> list[str]:
    """At most ``cap`` lines, the last ending in 「…（続きは画面で）」 when some were left out."""
    if cap is None or len(lines) <= cap:
        return lines
    more = words("summary.sheet.more")
    kept = lines[:cap]
    last = kept[-1]
    while last and width_of(last + more, size) > width:
        last = last[:-1]
    kept[-1] = last + more
    return kept


def age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _label(prefix: str, value: str | None) -> str:
    key = f"{prefix}.{value}"
    return translate(LANG, key) if key in catalogue(LANG) else str(value or "")


def _who(person: PersonRef | None, moment: datetime | None) -> str:
    if person is None:
        return ""
    who = person.name if person.status == "unknown" else person.label(LANG)
    return words("summary.sheet.recorded", person=who, when=local_time(moment))


def _joined(*pieces: str) -> str:
    return "　".join(p for p in pieces if p)


def _phone(phone: str) -> str:
    return words("summary.sheet.phone", phone=phone) if phone else ""


def subject_parts(subject: Subject, today: date) -> list[Part]:
    """The patient: name and kana, birth date and age, sex, address and phone (what consent gives)."""
    name = subject.name + (f"（{subject.name_kana}）" if subject.name_kana else "")
    born = ""
    if subject.birth_date:
        born = words(
            "summary.sheet.born", date=japanese_day(subject.birth_date), age=age(subject.birth_date, today)
        )
    sex = _label("staff.sex", subject.sex) if subject.sex else ""
    parts = [Part(words("summary.sheet.name"), [name], size=15.0, floor=3)]
    parts.append(
        Part(
            words("summary.sheet.born_sex"),
            [
                _joined(born, words("summary.sheet.sex", sex=sex) if sex else "")
                or words("summary.not_filled")
            ],
            floor=2,
        )
    )
    if subject.address or subject.phone:
        lines = [subject.address or "", _phone(subject.phone or "")]
        parts.append(Part(words("summary.sheet.address_phone"), [x for x in lines if x], floor=6))
    return parts


def summary_parts(summary: Summary) -> list[Part]:
    """The summary's sections in the order the crew needs them: allergies first."""
    content = summary.content or SummaryContent()
    none = words("summary.not_filled")

    def section(key: str) -> str:
        return words(f"summary.section.{key}")

    if content.allergies:
        allergies = [a.substance + (f"（{a.reaction}）" if a.reaction else "") for a in content.allergies]
    else:
        allergies = [words("summary.no_known_allergies") if content.no_known_allergies else none]
    doctor = content.family_doctor
    station = content.visiting_nurse_station
    acp = content.acp
    acp_lines: list[str] = []
    if acp and acp.dnar:
        acp_lines.append(words("summary.sheet.dnar", dnar=_label("summary.dnar", acp.dnar)))
    if acp and acp.wishes:
        acp_lines.append(words("summary.sheet.wishes", wishes=acp.wishes))
    return [
        Part(section("allergies"), allergies, size=12.0, alert=True),
        Part(
            section("family_doctor"),
            [
                _joined(
                    doctor.name + (f"（{doctor.facility}）" if doctor.facility else ""), _phone(doctor.phone)
                )
                if doctor
                else none
            ],
            floor=2,
        ),
        Part(
            section("visiting_nurse_station"),
            [_joined(station.name, _phone(station.phone)) if station else none],
            floor=2,
        ),
        Part(
            section("emergency_contacts"),
            [
                _joined(c.name + (f"（{c.relation}）" if c.relation else ""), _phone(c.phone))
                for c in content.emergency_contacts
            ]
            or [none],
            floor=5,
        ),
        Part(
            section("problems"),
            [_joined(p.name + (f"（{p.since}）" if p.since else ""), p.note) for p in content.problems]
            or [none],
        ),
        Part(
            section("care_level"),
            [_label("summary.care_level", content.care_level) if content.care_level else none],
        ),
        Part(section("adl"), [content.adl or none]),
        Part(
            section("acp"),
            acp_lines or [none],
            note=_who(summary.acp_recorded_by, summary.acp_recorded_at) if acp_lines else "",
            floor=3,
        ),
        Part(section("living_situation"), [content.living_situation or none]),
    ]


def lay_out(parts: list[Part]) -> list[Laid]:
    """Each part wrapped to its cell, nothing cut yet."""
    return [
        Laid(
            part,
            [line for paragraph in part.paragraphs for line in wrap(paragraph, part.size, VALUE_WIDTH)],
            wrap(part.label, LABEL_SIZE, LABEL_WIDTH - 2 * PADDING),
            wrap(part.note, NOTE_SIZE, VALUE_WIDTH) if part.note else [],
        )
        for part in parts
    ]


def capped(laid: list[Laid], cap: int | None, alert_cap: int | None) -> list[Laid]:
    """The rows with their lines capped (never below a part's floor); the allergies by ``alert_cap`` alone."""
    rows = []
    for row in laid:
        part = row.part
        limit = alert_cap if part.alert else None if cap is None else max(cap, part.floor)
        rows.append(Laid(part, cut(row.lines, limit, part.size, VALUE_WIDTH), row.labels, row.notes))
    return rows


def fit(parts: list[Part], height: float) -> list[Laid]:
    """The parts laid out with the mildest caps that let them fit ``height``: every other part is cut down
    before the allergies are."""
    laid = lay_out(parts)
    longest = max((len(row.lines) for row in laid if row.part.alert), default=1)
    tries: list[tuple[int | None, int | None]] = [(cap, None) for cap in LINE_CAPS]
    tries += [(LINE_CAPS[-1], cap) for cap in range(longest - 1, 0, -1)]
    rows: list[Laid] = laid
    for cap, alert_cap in tries:
        rows = capped(laid, cap, alert_cap)
        if sum(row.height for row in rows) <= height:
            break
    return rows


def _text(canvas: Canvas, x: float, y: float, text: str, size: float, color: object = INK) -> None:
    canvas.setFillColor(color)
    canvas.setFont(FONT, size)
    canvas.drawString(x, y, drawable(text))


def footer_lines(sheet: Sheet) -> list[str]:
    summary = sheet.summary
    if summary.version and summary.created_at:
        saved_by = summary.author.label(LANG) if summary.author and summary.author.status != "unknown" else ""
        version = words(
            "summary.sheet.version",
            version=summary.version,
            when=local_time(summary.created_at),
            person=saved_by or (summary.author.name if summary.author else ""),
        )
    else:
        version = words("summary.sheet.no_version")
    printed = words("summary.sheet.printed", when=local_time(sheet.printed_at))
    network = sheet.network or words("summary.sheet.default_network")
    lines = wrap(_joined(version, printed), FOOT_SIZE, TABLE_WIDTH)
    return lines + wrap(words("summary.sheet.footer", network=network), FOOT_SIZE, TABLE_WIDTH)


def draw_sheet(sheet: Sheet) -> bytes:
    """The sheet as a one-page PDF."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(words("summary.sheet.title"))
    canvas.setCreator("Yui")

    top = PAGE_HEIGHT - MARGIN
    _text(canvas, MARGIN, top - TITLE_SIZE, words("summary.sheet.title"), TITLE_SIZE)
    printed = words("summary.sheet.printed", when=local_time(sheet.printed_at))
    canvas.setFont(FONT, FOOT_SIZE)
    canvas.setFillColor(MUTED)
    canvas.drawRightString(PAGE_WIDTH - MARGIN, top - TITLE_SIZE, printed)
    subtitle_y = top - TITLE_SIZE - leading(NOTE_SIZE) - 4
    _text(canvas, MARGIN, subtitle_y, words("summary.sheet.subtitle"), NOTE_SIZE, MUTED)

    foot = footer_lines(sheet)
    foot_height = len(foot) * leading(FOOT_SIZE)
    table_top = subtitle_y - 10
    room = table_top - MARGIN - foot_height - 8
    today = sheet.printed_at.astimezone(DISPLAY_TIMEZONE).date()
    rows = fit(subject_parts(sheet.subject, today) + summary_parts(sheet.summary), room)

    y = table_top
    canvas.setLineWidth(0.6)
    canvas.setStrokeColor(RULE)
    for row in rows:
        height = row.height
        canvas.setFillColor(ALERT if row.part.alert else LABEL_FILL)
        canvas.rect(MARGIN, y - height, LABEL_WIDTH, height, stroke=1, fill=1)
        canvas.rect(MARGIN + LABEL_WIDTH, y - height, TABLE_WIDTH - LABEL_WIDTH, height, stroke=1, fill=0)
        cursor = y - PADDING  # the top of the next line's box; a line's baseline is its size below
        for label in row.labels:
            _text(
                canvas,
                MARGIN + PADDING,
                cursor - LABEL_SIZE,
                label,
                LABEL_SIZE,
                white if row.part.alert else INK,
            )
            cursor -= leading(LABEL_SIZE)
        size, x = row.part.size, MARGIN + LABEL_WIDTH + PADDING
        cursor = y - PADDING
        for line in row.lines:
            _text(canvas, x, cursor - size, line, size, ALERT_INK if row.part.alert else INK)
            cursor -= leading(size)
        for note in row.notes:
            _text(canvas, x, cursor - NOTE_SIZE, note, NOTE_SIZE, MUTED)
            cursor -= leading(NOTE_SIZE)
        y -= height
    baseline = MARGIN + foot_height - FOOT_SIZE
    for line in foot:
        _text(canvas, MARGIN, baseline, line, FOOT_SIZE, MUTED)
        baseline -= leading(FOOT_SIZE)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
