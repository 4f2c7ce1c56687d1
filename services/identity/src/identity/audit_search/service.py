"""The operators' audit search over all services (S2): ask each, merge by time, verify chains, export CSV."""

from __future__ import annotations

import asyncio
import base64
import binascii
import csv
import io
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.audit_api import (
    MAX_LIMIT,
    AuditEntriesPage,
    AuditEntryRead,
    AuditFilter,
    ChainVerificationRead,
    encode_cursor,
    search_entries,
    verify_entries,
)
from yui_common.auth import Principal
from yui_common.web import translate

from identity.settings import Settings

# identity answers from its own database; the others over HTTP with the operator's own token, so each service
# decides for itself (operator role, same network) and audits the read in its own chain.
SERVICES = ("identity", "consent", "timeline", "portal", "notify", "federation")
REMOTE = SERVICES[1:]
PAGE_SIZE = 50
LAST_POSITION = 2**63 - 1  # above any audit_log.seq (bigint)
# An export reads every page of every service; past this many rows per service it stops and says so.
EXPORT_LIMIT_PER_SERVICE = 50_000
CSV_COLUMNS = (
    "occurred_at",
    "service",
    "action",
    "actor_id",
    "facility_id",
    "subject_id",
    "target",
    "detail",
    "trace_id",
    "position",
    "id",
    "prev_hash",
    "hash",
)
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); a leading ' stops it.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
Answer = TypeVar("Answer", AuditEntriesPage, ChainVerificationRead)
FILTER_FIELDS = ("subject_id", "user_id", "facility_id", "since", "until", "action")
# Typed names, resolved to the ids above by the page (audit_search.names) before the services are asked.
NAME_FIELDS = ("subject_name", "user_name")


class ServiceUnansweredError(Exception):
    """A service could not be asked, or did not give a usable answer (the reason is shown to the operator)."""


@dataclass
class ServiceOutcome:
    service: str
    answered: bool = False
    reason: str | None = None  # why it did not answer
    found: int = 0
    verification: ChainVerificationRead | None = None
    verification_error: str | None = None


@dataclass
class AuditSearchResult:
    entries: list[AuditEntryRead]
    outcomes: list[ServiceOutcome]
    next_cursor: str | None = None
    truncated: bool = False

    @property
    def unanswered(self) -> list[str]:
        return [o.service for o in self.outcomes if not o.answered]


@dataclass
class AuditForm:
    """The filter as the operator typed it (kept to fill the form again) and as the services receive it."""

    values: dict[str, str] = field(default_factory=dict)
    audit_filter: AuditFilter = field(default_factory=AuditFilter)
    errors: list[str] = field(default_factory=list)  # catalogue keys
    limit: int = PAGE_SIZE
    cursor: str | None = None


def read_form(params: Mapping[str, str], zone: tzinfo) -> AuditForm:
    """Parse the query string of the audit page; times without an offset are the network's local time."""
    form = AuditForm(
        values={name: (params.get(name) or "").strip() for name in (*FILTER_FIELDS, *NAME_FIELDS)}
    )
    values: dict[str, Any] = {}
    for name in NAME_FIELDS:
        if len(form.values[name]) > 200:
            form.errors.append(f"audit.error.{name}")
    for name in ("subject_id", "user_id", "facility_id"):
        if form.values[name]:
            if len(form.values[name]) > 200:
                form.errors.append(f"audit.error.{name}")
            values[name] = form.values[name]
    if form.values["action"]:
        if len(form.values["action"]) > 100:
            form.errors.append("audit.error.action")
        values["action"] = form.values["action"]
    for name in ("since", "until"):
        if form.values[name]:
            try:
                moment = datetime.fromisoformat(form.values[name])
            except ValueError:
                form.errors.append(f"audit.error.{name}")
                continue
            values[name] = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    if "since" in values and "until" in values and values["since"] >= values["until"]:
        form.errors.append("audit.error.range")
    try:
        form.limit = max(1, min(int(params.get("limit") or PAGE_SIZE), MAX_LIMIT))
    except ValueError:
        form.errors.append("audit.error.limit")
    form.cursor = params.get("cursor") or None
    if not form.errors:
        form.audit_filter = AuditFilter(**values)
    return form


def decode_page_cursor(cursor: str | None) -> dict[str, str | None]:
    """Where each service's next page starts; a service left out of a cursor has no more entries."""
    if cursor is None:
        return dict.fromkeys(SERVICES)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise ValueError("not a page cursor") from exc
    if not isinstance(decoded, dict) or not all(isinstance(v, str) for v in decoded.values()):
        raise ValueError("not a page cursor")
    return {svc: decoded[svc] or None for svc in SERVICES if svc in decoded}


def _encode_page_cursor(positions: dict[str, str | None]) -> str | None:
    if not positions:
        return None
    raw = json.dumps({svc: cursor or "" for svc, cursor in positions.items()}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _newest_first(entry: AuditEntryRead) -> tuple[datetime, str, int]:
    return entry.occurred_at, entry.service, entry.position


class AuditSources:
    """How the search reaches each service for one operator's request."""

    def __init__(
        self,
        *,
        session: AsyncSession,
        principal: Principal,
        settings: Settings,
        credentials: Mapping[str, str],
        clients: Mapping[str, httpx.AsyncClient] | None = None,
    ) -> None:
        # credentials: the operator's own headers to pass on (their token, and what the gateway verified);
        # clients: HTTP clients already open for some services (the app's own, or a test's).
        self._session = session
        self._principal = principal
        self._settings = settings
        self._clients: dict[str, httpx.AsyncClient] = dict(clients or {})
        self._owned: list[httpx.AsyncClient] = []
        self._headers = {**credentials, "Accept": "application/json"}

    async def __aenter__(self) -> AuditSources:
        for svc in REMOTE:
            if svc not in self._clients:
                client = httpx.AsyncClient(
                    base_url=str(getattr(self._settings, f"{svc}_url")),
                    timeout=self._settings.audit_search_timeout_s,
                )
                self._owned.append(client)
                self._clients[svc] = client
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self._owned:
            await client.aclose()

    async def page(
        self, service: str, audit_filter: AuditFilter, *, limit: int, cursor: str | None
    ) -> AuditEntriesPage:
        if service == "identity":
            return await search_entries(
                self._session,
                principal=self._principal,
                service=service,
                audit_filter=audit_filter,
                limit=limit,
                cursor=cursor,
            )
        params = {
            key: value.isoformat() if isinstance(value, datetime) else str(value)
            for key, value in audit_filter.model_dump().items()
            if value is not None
        }
        params["limit"] = str(limit)
        if cursor:
            params["cursor"] = cursor
        body = await self._get(service, "/audit-entries", params)
        return _parsed(AuditEntriesPage, body)

    async def verification(self, service: str) -> ChainVerificationRead:
        if service == "identity":
            return await verify_entries(self._session, principal=self._principal, service=service)
        return _parsed(ChainVerificationRead, await self._get(service, "/audit-entries/verification", {}))

    async def subjects_named(self, name: str) -> list[dict[str, str]]:
        """Consent's subjects of the network whose name or kana contains ``name`` (operator only)."""
        body = await self._get("consent", "/subjects/lookup", {"name": name, "limit": "50"})
        return _items(body, ("id", "name", "name_kana"))

    async def subject_names(self, subject_ids: list[str]) -> dict[str, str]:
        """Consent's names of these subjects (ids of other networks, or not subjects at all, are left out)."""
        if not subject_ids:
            return {}
        body = await self._send("consent", "POST", "/subjects/names", json={"ids": subject_ids[:500]})
        return {item["id"]: item["name"] for item in _items(body, ("id", "name"))}

    async def _get(self, service: str, path: str, params: dict[str, str]) -> Any:
        return await self._send(service, "GET", path, params=params)

    async def _send(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._clients[service].request(method, path, headers=self._headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise ServiceUnansweredError("timeout") from exc
        except httpx.HTTPError as exc:
            raise ServiceUnansweredError("unreachable") from exc
        if response.status_code != 200:
            raise ServiceUnansweredError(f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceUnansweredError("invalid answer") from exc


def _items(body: Any, fields: tuple[str, ...]) -> list[dict[str, str]]:
    """``{"items": [...]}`` with the named string fields in each item, else the service's answer is unusable."""
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and all(isinstance(i.get(f), str) for f in fields) for i in items
    ):
        raise ServiceUnansweredError("invalid answer")
    return [{f: i[f] for f in fields} for i in items]


def _parsed(model: type[Answer], body: Any) -> Answer:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ServiceUnansweredError("invalid answer") from exc


async def _each_service(
    services: list[str], ask: Callable[[str, ServiceOutcome], Awaitable[None]]
) -> list[ServiceOutcome]:
    """Ask every service at once; one that fails is reported, never fails the whole search."""
    outcomes = [ServiceOutcome(svc) for svc in services]

    async def run(outcome: ServiceOutcome) -> None:
        try:
            await ask(outcome.service, outcome)
            outcome.answered = True
        except ServiceUnansweredError as exc:
            outcome.reason = str(exc)

    # identity's own part shares the request's database session, so it runs before the remote calls start.
    local = [o for o in outcomes if o.service == "identity"]
    for outcome in local:
        await run(outcome)
    await asyncio.gather(*(run(o) for o in outcomes if o.service != "identity"))
    return outcomes


async def search_page(sources: AuditSources, form: AuditForm, *, verify: bool = False) -> AuditSearchResult:
    """One page of the merged result, newest first; its cursor holds where each service's next page starts."""
    starts = decode_page_cursor(form.cursor)
    pages: dict[str, AuditEntriesPage] = {}

    async def ask(service: str, outcome: ServiceOutcome) -> None:
        if verify:
            try:
                outcome.verification = await sources.verification(service)
            except ServiceUnansweredError as exc:
                outcome.verification_error = str(exc)
        if service in starts:
            pages[service] = await sources.page(
                service, form.audit_filter, limit=form.limit, cursor=starts[service]
            )
            outcome.found = len(pages[service].entries)

    outcomes = await _each_service(list(SERVICES), ask)
    merged = sorted((e for page in pages.values() for e in page.entries), key=_newest_first, reverse=True)
    shown = merged[: form.limit]
    positions: dict[str, str | None] = {}
    more = False
    for service in SERVICES:
        if service not in starts:
            continue  # finished on an earlier page
        if service not in pages:
            positions[service] = starts[service]  # did not answer: the next page asks it again from here
            continue
        taken = [e for e in shown if e.service == service]
        page = pages[service]
        if len(taken) < len(page.entries):
            # Nothing shown from this service yet: continue below the page's last entry, not from the top,
            # so entries written meanwhile (this very search's own) never slip into a later page.
            positions[service] = (
                taken[-1].cursor if taken else encode_cursor(shown[-1].occurred_at, LAST_POSITION)
            )
            more = True
        elif page.next_cursor:
            positions[service] = page.next_cursor
            more = True
    return AuditSearchResult(shown, outcomes, _encode_page_cursor(positions) if more else None)


async def search_all(sources: AuditSources, form: AuditForm) -> AuditSearchResult:
    """Every entry the filter matches, from every service that answers (for the export)."""
    found: dict[str, list[AuditEntryRead]] = {}
    truncated: list[str] = []

    async def ask(service: str, outcome: ServiceOutcome) -> None:
        entries: list[AuditEntryRead] = []
        cursor: str | None = None
        while True:
            page = await sources.page(service, form.audit_filter, limit=MAX_LIMIT, cursor=cursor)
            entries += page.entries
            cursor = page.next_cursor
            if cursor is None:
                break
            if len(entries) >= EXPORT_LIMIT_PER_SERVICE:
                truncated.append(service)
                break
        found[service] = entries
        outcome.found = len(entries)

    outcomes = await _each_service(list(SERVICES), ask)
    merged = sorted((e for entries in found.values() for e in entries), key=_newest_first, reverse=True)
    return AuditSearchResult(merged, outcomes, truncated=bool(truncated))


def local_time(moment: datetime, zone: tzinfo) -> datetime:
    return moment.astimezone(zone)


def zone_of(settings: Settings) -> tzinfo:
    return ZoneInfo(settings.timezone)


def inert(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def csv_document(entries: list[AuditEntryRead], *, lang: str, zone: tzinfo) -> bytes:
    """RFC 4180 CSV (CRLF, quoted where needed) in UTF-8 with a BOM, which Excel needs to read Japanese."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([translate(lang, f"audit.column.{column}") for column in CSV_COLUMNS])
    for entry in entries:
        cells: dict[str, object] = {
            **entry.model_dump(),
            "occurred_at": local_time(entry.occurred_at, zone).isoformat(timespec="microseconds"),
            "service": translate(lang, f"audit.service.{entry.service}"),
            "detail": json.dumps(entry.detail, ensure_ascii=False, sort_keys=True) if entry.detail else "",
        }
        writer.writerow([inert(cells[column]) for column in CSV_COLUMNS])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")
