"""Reading a hospital letter sent as a FHIR R4 document Bundle (JP-CLINS 退院時サマリー or 診療情報提供書, JP Core
profiles): validated with fhir.resources' R4B models (R4's line in fhir.resources 8, as ``timeline.posts.fhir``
builds the export), then read for what the team needs: the letter as text, section by section, and the
medications, allergies and problems it names, each offered once to the subject's list or summary.

The section narrative (``section.text.div``, XHTML) is reduced to text with the standard library's HTML parser:
nothing is fetched, no entity is expanded beyond HTML's own, script and style are dropped, and the result is
only ever shown as text (the portal escapes it), so markup in a letter cannot reach a page."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from typing import Any, Literal

import pydantic
from fhir.resources.R4B.bundle import Bundle

LOINC = "http://loinc.org"
# 文書区分コード: 18842-5 退院時サマリー, 57133-1 診療情報提供書 (LOINC, as JP-CLINS codes Composition.type).
KINDS: dict[str, Literal["discharge_summary", "referral"]] = {
    "18842-5": "discharge_summary",
    "57133-1": "referral",
}
# JP Core's code system of the YJ code (薬価基準収載医薬品コード); HOT9 (urn:oid:1.2.392.200119.4.403.1) is not it.
YJ_SYSTEM = "urn:oid:1.2.392.100495.20.2.74"
YJ_CODE = re.compile(r"^[0-9A-Z]{12}$")
NO_KNOWN_ALLERGY = "716186003"  # SNOMED CT: an AllergyIntolerance saying there is none is no allergy to add
MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement")
# What the list and the summary take (timeline.medications.schemas, timeline.summary.schemas).
NAME_LIMIT = 200
REACTION_LIMIT = 200
SINCE_LIMIT = 50
NOTE_LIMIT = 500
NO_DOSE = "用法の記載なし"
UNNAMED_FACILITY = "医療機関名の記載なし"

OfferKind = Literal["medication", "allergy", "problem"]


class BundleInvalid(Exception):
    """The Bundle is not one Yui takes: ``reason`` says why, as the validator put it where it can."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Section:
    title: str
    text: str


@dataclass(frozen=True)
class FoundOffer:
    kind: OfferKind
    label: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Letter:
    kind: Literal["discharge_summary", "referral"]
    title: str
    author_org: str
    author_name: str
    document_date: date | None
    sections: list[Section] = field(default_factory=list)
    offers: list[FoundOffer] = field(default_factory=list)


# --- validation ---------------------------------------------------------------------------------------------


def _first_error(error: pydantic.ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first.get("loc", ()))
    message = " ".join(str(first.get("msg", "")).split())  # fhir.resources' messages span lines
    return f"{location}: {message}" if location else message


def validate(document: Any) -> None:
    """fhir.resources' R4B Bundle model over the whole document (each entry's resource by its own model);
    BundleInvalid with the first error's location and message."""
    if not isinstance(document, dict):
        raise BundleInvalid("The document is not a JSON object (a FHIR resource).")
    try:
        Bundle.model_validate(document)
    except pydantic.ValidationError as refused:
        raise BundleInvalid(_first_error(refused)) from None
    except (KeyError, TypeError, ValueError, RecursionError) as refused:
        # An unknown resourceType inside an entry surfaces as a KeyError of the model lookup.
        raise BundleInvalid(f"Not a valid FHIR R4 resource: {type(refused).__name__} {refused}") from None


# --- reading values -----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if isinstance(value, str) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _codings(concept: Any) -> list[dict[str, Any]]:
    return [c for c in _list(_dict(concept).get("coding")) if isinstance(c, dict)]


def concept_words(concept: Any) -> str:
    """A CodeableConcept as a person reads it: its text, else its first coding's display."""
    text = _text(_dict(concept).get("text"))
    if text:
        return text
    return next((_text(c.get("display")) for c in _codings(concept) if _text(c.get("display"))), "")


def _date(value: Any) -> date | None:
    """The day of a FHIR date or dateTime as written (its own offset: Japan's for a Japanese letter)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _human_name(resource: dict[str, Any]) -> str:
    """A Practitioner's name: JP Core gives the kanji form (extension IDE) beside the kana (SYL); kanji first."""
    names = [n for n in _list(resource.get("name")) if isinstance(n, dict)]

    def representation(name: dict[str, Any]) -> str:
        for extension in _list(name.get("extension")):
            if isinstance(extension, dict) and extension.get("url", "").endswith(
                "iso21090-EN-representation"
            ):
                return str(extension.get("valueCode") or "")
        return ""

    names.sort(key=lambda n: {"IDE": 0, "": 1, "ABC": 2, "SYL": 3}.get(representation(n), 1))
    for name in names:
        if _text(name.get("text")):
            return _text(name.get("text"))
        given = " ".join(_text(g) for g in _list(name.get("given")) if _text(g))
        whole = " ".join(part for part in (_text(name.get("family")), given) if part)
        if whole:
            return whole
    return ""


class _Resolver:
    """Entries found by fullUrl (``urn:uuid:…``) or by ``Type/id``, as a document's references name them."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.found: dict[str, dict[str, Any]] = {}
        for entry in entries:
            resource = _dict(entry.get("resource"))
            if isinstance(entry.get("fullUrl"), str):
                self.found[entry["fullUrl"]] = resource
            if resource.get("id"):
                self.found[f"{resource.get('resourceType')}/{resource['id']}"] = resource

    def __call__(self, reference: Any) -> dict[str, Any]:
        target = _dict(reference).get("reference")
        if isinstance(target, str):
            resource = self.found.get(target) or self.found.get(target.rsplit("/_history/", 1)[0])
            if resource is None and "/" in target:  # an absolute URL ending in Type/id
                resource = self.found.get("/".join(target.rstrip("/").split("/")[-2:]))
            if resource is not None:
                return resource
        return {}

    def name_of(self, reference: Any) -> tuple[str, str]:
        """(resourceType, name) of what a reference names; its display when it names nothing in the Bundle."""
        resource = self(reference)
        kind = str(resource.get("resourceType") or "")
        if kind == "Organization":
            return kind, _text(resource.get("name"))
        if kind in ("Practitioner", "Patient", "RelatedPerson"):
            return kind, _human_name(resource)
        if kind == "PractitionerRole":
            return self.name_of(resource.get("practitioner"))
        target = _dict(reference).get("reference")
        guessed = target.split("/")[-2] if isinstance(target, str) and "/" in target else ""
        return guessed, _text(_dict(reference).get("display"))


# --- the narrative ------------------------------------------------------------------------------------------


class _Narrative(HTMLParser):
    """XHTML to text: paragraphs apart by a blank line, rows and list items (with a bullet) on lines of their
    own, cells apart by a space; script and style vanish."""

    PARAGRAPHS = frozenset({"p", "div", "pre", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"})
    LINES = frozenset({"br", "tr", "ul", "ol", "table", "dl", "dt", "dd"})
    CELLS = frozenset({"td", "th"})
    SILENT = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.silent = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SILENT:
            self.silent += 1
        elif tag in self.PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in self.LINES:
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n・")
        elif tag in self.CELLS:
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SILENT:
            self.silent = max(0, self.silent - 1)
        elif tag in self.PARAGRAPHS:
            self.parts.append("\n\n")
        elif tag in ("ul", "ol", "table", "dl"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.silent:
            self.parts.append(data)

    def text(self) -> str:
        lines = []
        for line in "".join(self.parts).splitlines():
            words = " ".join(line.replace("\t", " ").split())
            lines.append(words)
        # Blank lines collapse to one; none at either end.
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def narrative_text(div: Any) -> str:
    """``section.text.div`` as plain text."""
    if not isinstance(div, str) or not div:
        return ""
    parser = _Narrative()
    parser.feed(div)
    parser.close()
    return parser.text()


def _sections(sections: Iterable[Any], depth: int = 0) -> Iterator[Section]:
    for raw in sections:
        section = _dict(raw)
        title = _text(section.get("title")) or concept_words(section.get("code"))
        text = narrative_text(_dict(section.get("text")).get("div"))
        if title or text:
            yield Section(title=title, text=text)
        if depth < 5:  # JP-CLINS nests its structured sections once; deeper nesting is read, not trusted
            yield from _sections(_list(section.get("section")), depth + 1)


# --- the offers ---------------------------------------------------------------------------------------------


def _medication(resource: dict[str, Any], resolve: _Resolver, letter: Letter) -> FoundOffer | None:
    concept = resource.get("medicationCodeableConcept")
    if concept is None and resource.get("medicationReference") is not None:
        concept = resolve(resource.get("medicationReference")).get("code")
    codings = _codings(concept)
    yj = next(
        (c for c in codings if c.get("system") == YJ_SYSTEM and YJ_CODE.match(str(c.get("code") or ""))), None
    )
    display = _text((yj or {}).get("display")) or next(
        (_text(c.get("display")) for c in codings if _text(c.get("display"))), ""
    )
    text = _text(_dict(concept).get("text"))
    name = display or text
    if not name:
        return None  # a medication with no name to show is not offered
    dosages = [_dict(d) for d in _list(resource.get("dosageInstruction") or resource.get("dosage"))]
    dose = "、".join(_text(d.get("text")) for d in dosages if _text(d.get("text"))) or NO_DOSE
    period = _dict(resource.get("effectivePeriod"))
    start = (
        _date(resource.get("authoredOn"))
        or _date(period.get("start"))
        or _date(resource.get("effectiveDateTime"))
        or letter.document_date
    )
    prescriber = ""
    requester = resource.get("requester") or resource.get("informationSource")
    if requester is not None:
        kind, who = resolve.name_of(requester)
        prescriber = who if kind in ("Practitioner", "") else ""
    prescriber = prescriber or letter.author_name
    data = {
        "drug_code": str(yj["code"]) if yj else None,
        "name": _cut(name, NAME_LIMIT),
        "ingredient": _cut(text or name, NAME_LIMIT),
        "dose": _cut(dose, NAME_LIMIT),
        "start_date": start.isoformat() if start else None,
        "end_date": d.isoformat() if (d := _date(period.get("end"))) else None,
        "prescriber": _cut(prescriber, 100),
        "facility": _cut(letter.author_org or UNNAMED_FACILITY, NAME_LIMIT),
    }
    label = name if dose == NO_DOSE else f"{name} {dose}"
    return FoundOffer("medication", label, data)


def _allergy(resource: dict[str, Any]) -> FoundOffer | None:
    concept = resource.get("code")
    if any(c.get("code") == NO_KNOWN_ALLERGY for c in _codings(concept)):
        return None
    substance = concept_words(concept)
    if not substance:
        return None
    reactions = []
    for reaction in _list(resource.get("reaction")):
        for manifestation in _list(_dict(reaction).get("manifestation")):
            words = concept_words(manifestation)
            if words and words not in reactions:
                reactions.append(words)
    reaction = "、".join(reactions)
    data = {"substance": _cut(substance, NAME_LIMIT), "reaction": _cut(reaction, REACTION_LIMIT)}
    return FoundOffer("allergy", f"{substance}（{reaction}）" if reaction else substance, data)


def _problem(resource: dict[str, Any]) -> FoundOffer | None:
    name = concept_words(resource.get("code"))
    if not name:
        return None
    onset = _date(resource.get("onsetDateTime")) or _date(_dict(resource.get("onsetPeriod")).get("start"))
    since = f"{onset.year}年{onset.month}月{onset.day}日" if onset else _text(resource.get("onsetString"))
    note = " ".join(
        _text(_dict(n).get("text")) for n in _list(resource.get("note")) if _text(_dict(n).get("text"))
    )
    data = {"name": _cut(name, NAME_LIMIT), "since": _cut(since, SINCE_LIMIT), "note": _cut(note, NOTE_LIMIT)}
    return FoundOffer("problem", f"{name}（{since}〜）" if since else name, data)


# --- the letter ---------------------------------------------------------------------------------------------


def read_letter(document: Any, *, validated: bool = False) -> Letter:
    """The document validated (unless it was when it came) and read; BundleInvalid when it is no letter Yui
    takes: not FHIR R4, not a document Bundle, no Composition first, not a 退院時サマリー or 診療情報提供書, or no
    subject."""
    if not validated:
        validate(document)
    if document.get("type") != "document":
        raise BundleInvalid(f"type: a document Bundle is expected, not {document.get('type')!r}")
    entries = [_dict(e) for e in _list(document.get("entry"))]
    composition = _dict(entries[0].get("resource")) if entries else {}
    if composition.get("resourceType") != "Composition":
        raise BundleInvalid("entry.0.resource: a document Bundle starts with its Composition")
    codes = [str(c.get("code")) for c in _codings(composition.get("type")) if c.get("code") in KINDS]
    if not codes:
        raise BundleInvalid(
            "entry.0.resource.type: not a discharge summary (LOINC 18842-5) or a referral letter (57133-1)"
        )
    if not _dict(composition.get("subject")).get("reference") and not _dict(composition.get("subject")).get(
        "identifier"
    ):
        raise BundleInvalid("entry.0.resource.subject: the letter names no patient")
    resolve = _Resolver(entries)
    author_name = author_org = ""
    for author in _list(composition.get("author")):
        kind, who = resolve.name_of(author)
        if kind == "Organization" and not author_org:
            author_org = who
        elif kind in ("Practitioner", "") and not author_name:
            author_name = who
    if composition.get("custodian") is not None:
        author_org = resolve.name_of(composition.get("custodian"))[1] or author_org
    letter = Letter(
        kind=KINDS[codes[0]],
        title=_text(composition.get("title")) or concept_words(composition.get("type")),
        author_org=author_org,
        author_name=author_name,
        document_date=_date(composition.get("date")),
        sections=list(_sections(_list(composition.get("section")))),
    )
    for entry in entries[1:]:
        resource = _dict(entry.get("resource"))
        resource_type = resource.get("resourceType")
        found = None
        if resource_type in MEDICATION_TYPES:
            found = _medication(resource, resolve, letter)
        elif resource_type == "AllergyIntolerance":
            found = _allergy(resource)
        elif resource_type == "Condition":
            found = _problem(resource)
        if found is not None:
            letter.offers.append(found)
    return letter


def same_words(a: str, b: str) -> bool:
    """Whether two entries say the same: NFKC (full and half width alike), case and spaces ignored."""

    def key(text: str) -> str:
        return "".join(unicodedata.normalize("NFKC", text).casefold().split())

    return key(a) == key(b)
