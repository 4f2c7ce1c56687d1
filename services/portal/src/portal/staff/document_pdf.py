"""The standard documents of a home-care team (rec4: 訪問看護指示書, 訪問看護報告書, 居宅療養管理指導報告書, サービス担当者
会議の要点) drawn as A4 PDFs with reportlab and its built-in Japanese CID font, as the emergency sheet is: a title,
the patient's block, each section a labelled box, the author and the date in Japan's time, the network's name.
The forms are exchanged between Japanese facilities, so the PDF is in Japanese whatever the writer's language.
Nothing typed is ever cut: long lines are wrapped (a run of closing marks too), the text is made smaller to stay
within two pages, and ``pages_needed`` tells the form when it cannot (the form then asks for shorter text). A
character the font cannot draw (past the BMP, as 𠮷) is printed as 〓, and the form says so beforehand."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas
from yui_common.web import DISPLAY_TIMEZONE, local_time, translate

from portal.clients.consent import Subject
from portal.staff.emergency_sheet import FONT, age, drawable, leading, wrap
from portal.staff.pages import japanese_day

LANG = "ja"
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 36.0
LABEL_WIDTH = 132.0
PADDING = 5.0
TABLE_WIDTH = PAGE_WIDTH - 2 * MARGIN
VALUE_WIDTH = TABLE_WIDTH - LABEL_WIDTH - 2 * PADDING
LABEL_SIZE = 9.5
TITLE_SIZE = 18.0
FOOT_SIZE = 8.0
MAX_PAGES = 2
# The text sizes tried in turn until the document fits on two pages.
BODY_SIZES = (10.5, 9.5, 8.5, 7.5)

INK = HexColor("#1f2933")
MUTED = HexColor("#4a545d")
RULE = HexColor("#5f6b75")
LABEL_FILL = HexColor("#eceff1")
BLOCK_FILL = HexColor("#f7f8f9")


def words(key: str, **params: object) -> str:
    return translate(LANG, key, **params)


@dataclass(frozen=True)
class Section:
    """One labelled box: its label and the text as typed (newlines kept)."""

    label: str
    text: str


@dataclass(frozen=True)
class Document:
    """What a document shows: its title, the patient as consent gives them, the sections in the form's order,
    who wrote it (name, profession, facility) and when, and the network it was made in."""

    title: str
    subject: Subject
    sections: tuple[Section, ...]
    author: str
    created_at: datetime
    network: str | None


@dataclass
class Row:
    label_lines: list[str]
    lines: list[str]
    size: float
    block: bool = False  # the patient's block: shaded

    def height(self, count: int | None = None) -> float:
        shown = len(self.lines) if count is None else count
        text = max(shown, 1) * leading(self.size)
        return max(text, len(self.label_lines) * leading(LABEL_SIZE)) + 2 * PADDING


def patient_sections(subject: Subject, today: datetime) -> list[Section]:
    """The patient's block: name and kana, birth date and age, address and phone (what consent gives)."""
    name = subject.name + (f"（{subject.name_kana}）" if subject.name_kana else "")
    born = ""
    if subject.birth_date:
        born = words(
            "documents.pdf.born",
            date=japanese_day(subject.birth_date),
            age=age(subject.birth_date, today.astimezone(DISPLAY_TIMEZONE).date()),
        )
    address = "　".join(
        x
        for x in (
            subject.address or "",
            words("documents.pdf.phone", phone=subject.phone) if subject.phone else "",
        )
        if x
    )
    return [
        Section(words("documents.pdf.patient"), name),
        Section(words("documents.pdf.birth_date"), born or words("documents.pdf.blank")),
        Section(words("documents.pdf.address"), address or words("documents.pdf.blank")),
    ]


def _rows(document: Document, size: float) -> list[Row]:
    rows = [
        Row(wrap(s.label, LABEL_SIZE, LABEL_WIDTH - 2 * PADDING), wrap(s.text, size, VALUE_WIDTH), size, True)
        for s in patient_sections(document.subject, document.created_at)
    ]
    for section in document.sections:
        text = section.text.strip() or words("documents.pdf.blank")
        rows.append(
            Row(
                wrap(section.label, LABEL_SIZE, LABEL_WIDTH - 2 * PADDING),
                wrap(text, size, VALUE_WIDTH),
                size,
            )
        )
    return rows


def _footer(document: Document) -> list[str]:
    created = words("documents.pdf.created", when=local_time(document.created_at), author=document.author)
    network = document.network or words("summary.sheet.default_network")
    return [
        *wrap(created, FOOT_SIZE, TABLE_WIDTH),
        *wrap(words("documents.pdf.footer", network=network), FOOT_SIZE, TABLE_WIDTH),
    ]


def _pages(rows: list[Row], first_room: float, room: float) -> list[list[tuple[Row, int, int]]]:
    """The rows laid on pages: (row, first line, end line) per box drawn; a box too tall for what is left of a
    page is split between lines and goes on at the top of the next (its label repeated)."""
    pages: list[list[tuple[Row, int, int]]] = [[]]
    left = first_room
    for row in rows:
        start = 0
        total = max(len(row.lines), 1)
        while start < total:
            fits = 0
            while start + fits < total and row.height(fits + 1) <= left:
                fits += 1
            if fits == 0:
                if pages[-1]:
                    pages.append([])
                    left = room
                    continue
                fits = 1  # a single line taller than a page: drawn anyway (cannot happen at these sizes)
            pages[-1].append((row, start, start + fits))
            left -= row.height(fits)
            start += fits
    return pages


def _layout(document: Document) -> tuple[list[list[tuple[Row, int, int]]], list[str]]:
    foot = _footer(document)
    foot_height = len(foot) * leading(FOOT_SIZE) + 8
    first_room = PAGE_HEIGHT - 2 * MARGIN - TITLE_SIZE - 18 - foot_height
    room = PAGE_HEIGHT - 2 * MARGIN - foot_height - 14
    pages: list[list[tuple[Row, int, int]]] = []
    for size in BODY_SIZES:
        pages = _pages(_rows(document, size), first_room, room)
        if len(pages) <= MAX_PAGES:
            break
    return pages, foot


def pages_needed(document: Document) -> int:
    """How many pages the document takes at the smallest text size tried (more than two: too long)."""
    return len(_layout(document)[0])


def _text(canvas: Canvas, x: float, y: float, text: str, size: float, color: object = INK) -> None:
    canvas.setFillColor(color)
    canvas.setFont(FONT, size)
    canvas.drawString(x, y, drawable(text))


def draw_document(document: Document) -> bytes:
    """The document as a PDF of one or two A4 pages (more only when ``pages_needed`` said so and it was drawn
    anyway)."""
    pages, foot = _layout(document)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(document.title)
    canvas.setAuthor(document.author)
    canvas.setCreator("Yui")
    top = PAGE_HEIGHT - MARGIN
    for number, boxes in enumerate(pages, start=1):
        if number == 1:
            title_y = top - TITLE_SIZE
            canvas.setFont(FONT, TITLE_SIZE)
            canvas.setFillColor(INK)
            canvas.drawCentredString(PAGE_WIDTH / 2, title_y, document.title)
            dated = words("documents.pdf.dated", date=local_time(document.created_at, with_time=False))
            canvas.setFont(FONT, FOOT_SIZE + 1)
            canvas.drawRightString(PAGE_WIDTH - MARGIN, title_y - 14, dated)
            y = title_y - 18
        else:
            _text(
                canvas,
                MARGIN,
                top - FOOT_SIZE,
                words("documents.pdf.continued", title=document.title),
                FOOT_SIZE,
                MUTED,
            )
            y = top - 14
        canvas.setLineWidth(0.7)
        canvas.setStrokeColor(RULE)
        for row, start, end in boxes:
            height = row.height(end - start)
            canvas.setFillColor(LABEL_FILL)
            canvas.rect(MARGIN, y - height, LABEL_WIDTH, height, stroke=1, fill=1)
            canvas.setFillColor(BLOCK_FILL)
            canvas.rect(
                MARGIN + LABEL_WIDTH,
                y - height,
                TABLE_WIDTH - LABEL_WIDTH,
                height,
                stroke=1,
                fill=int(row.block),
            )
            cursor = y - PADDING
            labels = (
                row.label_lines
                if start == 0
                else [*row.label_lines[:-1], row.label_lines[-1] + words("documents.pdf.label_continued")]
            )
            for label in labels:
                _text(canvas, MARGIN + PADDING, cursor - LABEL_SIZE, label, LABEL_SIZE)
                cursor -= leading(LABEL_SIZE)
            cursor = y - PADDING
            for line in row.lines[start:end]:
                _text(canvas, MARGIN + LABEL_WIDTH + PADDING, cursor - row.size, line, row.size)
                cursor -= leading(row.size)
            y -= height
        baseline = MARGIN + (len(foot) - 1) * leading(FOOT_SIZE)
        for line in foot:
            _text(canvas, MARGIN, baseline, line, FOOT_SIZE, MUTED)
            baseline -= leading(FOOT_SIZE)
        canvas.setFont(FONT, FOOT_SIZE)
        canvas.setFillColor(MUTED)
        canvas.drawRightString(PAGE_WIDTH - MARGIN, MARGIN - 14, f"{number}/{len(pages)}")
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()
