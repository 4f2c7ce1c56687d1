"""The operator's 連携協定 pages (issue 12, item 1), for both sides of an agreement: the list (peer network by name,
state, side, dates in Japan time), one agreement's terms with the steps this side may take (accept, suspend,
resume, end, each confirmed on a page of its own), and the propose form (the peer network chosen from those its
deployment publishes, the CA certificate pasted or uploaded, the message types, a professions × data categories
grid, the cache limit).

Federation holds the agreements and audits every read and step, and every refusal of a non-operator that reaches
it; a non-operator refused here, before any call, is audited in the portal's own log the same way. No page shows
or asks for an id: an agreement is named by the peer network's name and the date it was made. Plain form posts
throughout; htmx only fills the peer network's choices once the base URL is given (a button does it without)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile
from yui_common import audit
from yui_common.db import DbSession
from yui_common.problems import problem_response
from yui_common.vocabulary import PROFESSIONS, profession_label
from yui_common.web import DISPLAY_TIMEZONE, language_of, translate

from portal.clients.base import ServiceProblem
from portal.clients.federation import (
    AGREEABLE_TYPES,
    DATA_CATEGORIES,
    POST_CATEGORIES,
    STEP_PATHS,
    Agreement,
    FederationClient,
    PeerNetwork,
)
from portal.public.pages import page
from portal.session import StaffSession, require_staff
from portal.staff.pages import japanese_day, labeller, optional

router = APIRouter(prefix="/operator/agreements", tags=["operator"], include_in_schema=False)
OPERATOR = "operator"
REFUSED_DETAIL = "The operator's pages are for the network's operator."
MAX_CA_BYTES = 20000  # federation's limit on a CA certificate's PEM
# What a page may be told was done (?done=...); anything else shows nothing.
FLASHES = frozenset({"proposed", "accept", "suspend", "resume", "end"})
# A refusal federation explains, in the reader's words (its English detail is shown beside it).
PROBLEM_MESSAGES = {
    "federation-ca-invalid": "agreements.error.ca_invalid",
    "federation-peer-source-invalid": "agreements.error.peer_invalid",
    "federation-agreement-state": "agreements.error.state",
    "federation-peer-unreachable": "agreements.error.peer_unreachable",
    "validation-error": "agreements.error.invalid",
}


async def _operator(request: Request, session: DbSession, what: str) -> StaffSession | Response:
    """The signed-in operator (and, for a POST, the form's CSRF token); anyone else gets the operator pages' usual
    403, audited here as federation audits a refusal (returned, not raised, so the entry commits)."""
    staff = await require_staff(request)
    if staff.has_role(OPERATOR):
        return staff
    await audit.record_by(
        session,
        staff,
        action=f"federation.agreement.{what}-refused",
        detail={"reason": "not-operator", "where": "portal"},
    )
    return problem_response(request, 403, "forbidden", "Forbidden", REFUSED_DETAIL)


# --- names and labels -------------------------------------------------------------------------------------------


@dataclass
class Names:
    """Network names by source, from the documents this deployment and the peers publish; a network whose name
    is not known is shown by its slug and host (never an id)."""

    by_source: dict[str, str] = field(default_factory=dict)
    own_source: str | None = None

    def of(self, source: str) -> str:
        if source in self.by_source:
            return self.by_source[source]
        parts = urlsplit(source)
        return f"{parts.path.rstrip('/').rsplit('/', 1)[-1]}（{parts.netloc}）"

    def learn(self, networks: list[PeerNetwork]) -> None:
        for network in networks:
            if network.name:
                self.by_source.setdefault(network.source, network.name)


async def _names(federation: FederationClient, staff: StaffSession, agreements: list[Agreement]) -> Names:
    names = Names()
    own = await optional(federation.own_networks(), [])
    names.learn(own)
    names.own_source = next((n.source for n in own if n.tenant == staff.tenant), None)
    for base_url in sorted({a.peer_base_url for a in agreements}):
        peers = await optional(federation.peer_networks(base_url), None)
        if peers is not None:
            names.learn(peers.networks)
    return names


def _title(request: Request, agreement: Agreement, names: Names) -> str:
    """「となりまちネットとの協定（2026年5月3日）」: the peer's name and the day it was made, in Japan's time."""
    lang = language_of(request)
    day = japanese_day(agreement.created_at.astimezone(DISPLAY_TIMEZONE).date(), lang)
    return translate(lang, "agreements.name", peer=names.of(agreement.peer_source), day=day)


def _labels(request: Request) -> dict[str, Any]:
    lang = language_of(request)
    label = labeller(lang)

    def category(code: str) -> str:
        return label("staff.category", code) if code in POST_CATEGORIES else label("agreements.section", code)

    return {
        "profession_label": lambda code: profession_label(code, lang),
        "category_label": category,
        "type_label": lambda code: label("agreements.type", code),
        "professions": PROFESSIONS,
        "categories": DATA_CATEGORIES,
        "agreeable_types": AGREEABLE_TYPES,
    }


def fingerprint(sha256_hex: str) -> str:
    """A SHA-256 fingerprint as certificate tools print it (AB:CD:…), for comparing with the peer's by eye."""
    return ":".join(sha256_hex[i : i + 2] for i in range(0, len(sha256_hex), 2)).upper()


def _render(
    request: Request, staff: StaffSession, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    done = request.query_params.get("done")
    response = page(
        request,
        template,
        {
            "staff": staff,
            "csrf": staff.csrf,
            "flash": None,  # the operator layout's own flashes are the dashboard's
            "agreement_flash": done if done in FLASHES and status_code == 200 else None,
            "nav_current": "agreements",
            "fingerprint": fingerprint,
            **_labels(request),
            **context,
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _root(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}/operator/agreements"


# --- proposing ---------------------------------------------------------------------------------------------------


@dataclass
class Typed:
    """What the operator typed into the propose form, to show it again after a refusal."""

    peer_base_url: str = ""
    peer_source: str = ""
    peer_ca_pem: str = ""
    event_types: list[str] = field(default_factory=list)
    grants: set[str] = field(default_factory=set)  # "<profession>:<category>"
    cache_limit_hours: str = "24"

    @classmethod
    def of(cls, form: FormData) -> Typed:
        return cls(
            peer_base_url=str(form.get("peer_base_url", "")).strip(),
            peer_source=str(form.get("peer_source", "")).strip(),
            peer_ca_pem=str(form.get("peer_ca_pem", "")).strip(),
            event_types=[str(t) for t in form.getlist("event_types") if str(t) in AGREEABLE_TYPES],
            grants={str(g) for g in form.getlist("grant")},
            cache_limit_hours=str(form.get("cache_limit_hours", "")).strip(),
        )

    def professions(self) -> dict[str, list[str]]:
        chosen: dict[str, list[str]] = {}
        for grant in sorted(self.grants):
            profession, _, category = grant.partition(":")
            if profession in PROFESSIONS and category in DATA_CATEGORIES:
                chosen.setdefault(profession, []).append(category)
        return chosen


@dataclass
class PeerChoice:
    """The peer network field: the networks the peer's document lists, or why they could not be read."""

    networks: list[PeerNetwork] = field(default_factory=list)
    error: str | None = None
    detail: str = ""
    asked: bool = False


async def _peer_choice(
    federation: FederationClient, staff: StaffSession, typed: Typed, ca_pem: str | None
) -> PeerChoice:
    if not typed.peer_base_url:
        return PeerChoice()
    try:
        try:
            peers = await federation.peer_networks(typed.peer_base_url, ca_pem=ca_pem or None)
        except ServiceProblem as refusal:
            # A CA that is not one is said where the CA is typed (by the proposal's refusal); the peer's networks
            # are still offered, read as they would be before any CA was given.
            if refusal.slug != "federation-ca-invalid" or not ca_pem:
                raise
            peers = await federation.peer_networks(typed.peer_base_url)
    except ServiceProblem as refusal:
        if refusal.session_ended or refusal.status not in (409, 422, 503):
            raise
        return PeerChoice(
            error=PROBLEM_MESSAGES.get(refusal.slug, "agreements.error.invalid"),
            detail=refusal.detail,
            asked=True,
        )
    own = f"/networks/{staff.tenant}"
    base = typed.peer_base_url.rstrip("/")
    # This network itself is no peer of its own (federation refuses it too).
    networks = [n for n in peers.networks if not (n.source.startswith(base) and n.source.endswith(own))]
    return PeerChoice(networks=networks, asked=True)


def _form_page(
    request: Request,
    staff: StaffSession,
    typed: Typed,
    choice: PeerChoice,
    *,
    error: str | None = None,
    error_field: str | None = None,
    detail: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    return _render(
        request,
        staff,
        "agreements/new.html",
        {
            "typed": typed,
            "choice": choice,
            "error": error,
            "error_field": error_field,
            "detail": detail,
            "peer_name": lambda n: n.name or n.tenant,
        },
        status_code=status_code,
    )


@router.get("/new", response_class=HTMLResponse, response_model=None)
async def new_agreement(request: Request, session: DbSession) -> Response:
    staff = await _operator(request, session, "proposal")
    if isinstance(staff, Response):
        return staff
    return _form_page(request, staff, Typed(), PeerChoice())


@router.post("/new/peer-networks", response_class=HTMLResponse, response_model=None)
async def load_peer_networks(request: Request, session: DbSession) -> Response:
    """The peer network field filled from the peer's published document: the field alone for htmx, else the
    whole form again (the button that works without script)."""
    staff = await _operator(request, session, "proposal")
    if isinstance(staff, Response):
        return staff
    form = await request.form()
    typed = Typed.of(form)
    ca_pem = await _ca_from(form, "peer_ca_pem", "peer_ca_file")
    choice = await _peer_choice(FederationClient(request, staff.token), staff, typed, ca_pem)
    if request.headers.get("hx-request") == "true":
        return _render(
            request,
            staff,
            "agreements/peer_network_field.html",
            {"typed": typed, "choice": choice, "peer_name": lambda n: n.name or n.tenant},
        )
    return _form_page(request, staff, typed, choice)


def _proposal(typed: Typed, ca_pem: str) -> dict[str, Any] | str:
    """The body federation takes, or the field the form must point at."""
    if not typed.peer_base_url:
        return "peer_base_url"
    if not typed.peer_source:
        return "peer_source"
    if not ca_pem:
        return "peer_ca_pem"
    try:
        hours = int(typed.cache_limit_hours)
    except ValueError:
        return "cache_limit_hours"
    if not 0 <= hours <= 24 * 90:
        return "cache_limit_hours"
    return {
        "peer_base_url": typed.peer_base_url,
        "peer_source": typed.peer_source,
        "peer_ca_pem": ca_pem,
        "event_types": typed.event_types,
        "professions": typed.professions(),
        "cache_limit_hours": hours,
    }


@router.post("", response_model=None)
async def propose(request: Request, session: DbSession) -> Response:
    staff = await _operator(request, session, "proposal")
    if isinstance(staff, Response):
        return staff
    form = await request.form()
    typed = Typed.of(form)
    ca_pem = await _ca_from(form, "peer_ca_pem", "peer_ca_file")
    federation = FederationClient(request, staff.token)
    body = _proposal(typed, ca_pem or "")
    if isinstance(body, str):
        choice = await _peer_choice(federation, staff, typed, ca_pem)
        key = (
            "agreements.error.ca_invalid"
            if ca_pem == "" and body == "peer_ca_pem"
            else f"agreements.error.{body}"
        )
        return _form_page(request, staff, typed, choice, error=key, error_field=body, status_code=422)
    try:
        made = await federation.propose(body)
    except ServiceProblem as failure:
        if failure.session_ended or failure.status not in (409, 422):
            raise
        choice = await _peer_choice(federation, staff, typed, ca_pem)
        return _form_page(
            request,
            staff,
            typed,
            choice,
            error=PROBLEM_MESSAGES.get(failure.slug, "agreements.error.invalid"),
            detail=failure.detail,
            status_code=failure.status,
        )
    return RedirectResponse(f"{_root(request)}/{made.id}?done=proposed", status_code=303)


# --- the list and one agreement ---------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse, response_model=None)
async def agreements(request: Request, session: DbSession) -> Response:
    staff = await _operator(request, session, "list")
    if isinstance(staff, Response):
        return staff
    federation = FederationClient(request, staff.token)
    found = await federation.agreements()
    names = await _names(federation, staff, found)
    found.sort(key=lambda a: (a.state == "ended", -a.state_changed_at.timestamp()))
    rows = [
        {"agreement": a, "title": _title(request, a, names), "peer": names.of(a.peer_source)} for a in found
    ]
    return _render(request, staff, "agreements/list.html", {"rows": rows})


@router.get("/{agreement_id}", response_class=HTMLResponse, response_model=None)
async def agreement_page(agreement_id: UUID, request: Request, session: DbSession) -> Response:
    staff = await _operator(request, session, "read")
    if isinstance(staff, Response):
        return staff
    federation = FederationClient(request, staff.token)
    agreement = await federation.agreement(agreement_id)
    names = await _names(federation, staff, [agreement])
    return _render(
        request,
        staff,
        "agreements/detail.html",
        {
            "agreement": agreement,
            "title": _title(request, agreement, names),
            "peer": names.of(agreement.peer_source),
            "governing": names.of(agreement.governing_terms),
            "home": names.of(agreement.network_source),
        },
    )


# --- the steps, each confirmed first ----------------------------------------------------------------------------


async def _confirm_page(
    request: Request,
    staff: StaffSession,
    agreement_id: UUID,
    step: str,
    *,
    error: str | None = None,
    detail: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    federation = FederationClient(request, staff.token)
    agreement = await federation.agreement(agreement_id)
    names = await _names(federation, staff, [agreement])
    return _render(
        request,
        staff,
        "agreements/confirm.html",
        {
            "agreement": agreement,
            "step": step,
            "title": _title(request, agreement, names),
            "peer": names.of(agreement.peer_source),
            "error": error,
            "detail": detail,
        },
        status_code=status_code,
    )


@router.get("/{agreement_id}/{step}", response_class=HTMLResponse, response_model=None)
async def confirm_step(agreement_id: UUID, step: str, request: Request, session: DbSession) -> Response:
    """The confirmation before a step: what it does, and the one button that does it."""
    staff = await _operator(request, session, "read")
    if isinstance(staff, Response):
        return staff
    if step not in STEP_PATHS:
        raise ServiceProblem(404, "urn:yui:problem:not-found", "Not found")
    return await _confirm_page(request, staff, agreement_id, step)


async def _ca_from(form: FormData, text_field: str, file_field: str) -> str | None:
    """A CA certificate pasted, or uploaded as a file (which wins): its PEM text, None when neither was given;
    a file too large or not text gives "" (refused by federation as not a certificate)."""
    upload = form.get(file_field)
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_CA_BYTES + 1)
        if data:
            if len(data) > MAX_CA_BYTES:
                return ""
            try:
                return data.decode("ascii").strip()
            except UnicodeDecodeError:
                return ""
    pasted = str(form.get(text_field, "")).strip()
    return pasted or None


@router.post("/{agreement_id}/{step}", response_model=None)
async def take_step(agreement_id: UUID, step: str, request: Request, session: DbSession) -> Response:
    staff = await _operator(request, session, step if step in STEP_PATHS else "step")
    if isinstance(staff, Response):
        return staff
    if step not in STEP_PATHS:
        raise ServiceProblem(404, "urn:yui:problem:not-found", "Not found")
    form = await request.form()
    ca_pem = await _ca_from(form, "peer_ca_pem", "peer_ca_file") if step == "accept" else None
    if ca_pem == "":
        return await _confirm_page(
            request, staff, agreement_id, step, error="agreements.error.ca_invalid", status_code=422
        )
    try:
        await FederationClient(request, staff.token).take_step(agreement_id, step, peer_ca_pem=ca_pem)
    except ServiceProblem as refusal:
        if refusal.session_ended or refusal.status not in (409, 422):
            raise
        return await _confirm_page(
            request,
            staff,
            agreement_id,
            step,
            error=PROBLEM_MESSAGES.get(refusal.slug, "agreements.error.invalid"),
            detail=refusal.detail,
            status_code=refusal.status,
        )
    return RedirectResponse(f"{_root(request)}/{agreement_id}?done={step}", status_code=303)
