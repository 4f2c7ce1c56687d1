"""What every staff page shares: the services' clients as the signed-in member, their refusals, rendering."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import httpx
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from yui_common.web import catalogue, language_of, render, translate

from portal.clients.base import ServiceProblem
from portal.clients.consent import ConsentClient, Subject
from portal.clients.identity import IdentityClient
from portal.clients.notify import NotifyClient
from portal.clients.timeline import Conversation, TimelineClient
from portal.session import Staff, StaffSession, current_staff, sign_in_redirect

T = TypeVar("T")
STAFF_ROOT = "/staff"


async def _identity(request: Request, staff: Staff) -> IdentityClient:
    return IdentityClient(request, staff.token)


async def _consent(request: Request, staff: Staff) -> ConsentClient:
    return ConsentClient(request, staff.token)


async def _timeline(request: Request, staff: Staff) -> TimelineClient:
    return TimelineClient(request, staff.token)


async def _notify(request: Request, staff: Staff) -> NotifyClient:
    return NotifyClient(request, staff.token)


# The services as the signed-in staff member (FastAPI dependencies: a page declares which it calls).
IdentityApi = Annotated[IdentityClient, Depends(_identity)]
ConsentApi = Annotated[ConsentClient, Depends(_consent)]
TimelineApi = Annotated[TimelineClient, Depends(_timeline)]
NotifyApi = Annotated[NotifyClient, Depends(_notify)]


async def optional(call: Awaitable[T], default: T) -> T:
    """A part of a page that may be missing (a service refusing) without failing the whole page; an ended
    session still sends the browser to sign in."""
    try:
        return await call
    except ServiceProblem as problem:
        if problem.session_ended:
            raise
        return default


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    return list(await asyncio.gather(*calls))


def url(request: Request, path: str) -> str:
    return f"{request.scope.get('root_path', '')}{STAFF_ROOT}{path}"


def back(request: Request, path: str, **flash: str) -> RedirectResponse:
    """Post/redirect/get: back to a staff page, with a short message key to show there."""
    target, _, fragment = url(request, path).partition("#")
    if flash:
        target += ("&" if "?" in target else "?") + "&".join(f"{k}={v}" for k, v in flash.items())
    return RedirectResponse(f"{target}#{fragment}" if fragment else target, status_code=303)


def safe_next(request: Request, candidate: str | None) -> str:
    """Only a path on our own staff UI or the operator's pages (signing in from /operator lands there): never
    an open redirect."""
    root = request.scope.get("root_path", "")
    if candidate:
        parts = urlsplit(candidate)
        operator = parts.path == f"{root}/operator" or parts.path.startswith(f"{root}/operator/")
        if (
            not parts.scheme
            and not parts.netloc
            and (parts.path.startswith(f"{root}{STAFF_ROOT}") or operator)
        ):
            return candidate
    return f"{root}{STAFF_ROOT}"


def japanese_day(value: date | None, lang: str = "ja") -> str:
    """A date as the reader writes it: 「2026年11月3日」, or 2026-11-03 in English; "" for none. Pages have it as
    ``day(value)`` in the reader's language; the documents and the PDFs (in Japanese) call it directly."""
    if value is None:
        return ""
    return f"{value.year}年{value.month}月{value.day}日" if lang == "ja" else value.isoformat()


def support_stopped(subject: Subject) -> bool:
    """Whether the subject's record is closed to the team: support stopped, or consent withdrawn."""
    return subject.status == "support_stopped" or subject.consent_status == "withdrawn"


def stopped_page(
    request: Request, staff: StaffSession, template: str, status_code: int = 410
) -> HTMLResponse:
    """A subject page once support stopped: the page's template saying so, without the subject."""
    return page(request, staff, template, {"subject": None, "stopped": True}, status_code=status_code)


def page(
    request: Request,
    staff: StaffSession | None,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """Render a staff template with the layout's needs: who is signed in, the CSRF token, labels, flash."""
    flash = request.query_params.get("done")
    lang = language_of(request)
    response = render(
        request,
        template,
        {
            "staff": staff,
            "csrf": staff.csrf if staff else "",
            "staff_root": url(request, ""),
            "flash": flash if flash and f"staff.flash.{flash}" in catalogue("ja") else None,
            "label": labeller(lang),
            "day": lambda value: japanese_day(value, lang),
            "conversation_page": conversation_page,
            **context,
        },
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"  # pages show personal data: never cached
    return response


def labeller(lang: str) -> Callable[[str, object], str]:
    """A value the services send (a status, a category, a notification kind) in words; a value newer than
    the catalogue shows as it is rather than failing the page."""

    def label(prefix: str, value: object) -> str:
        key = f"{prefix}.{value}"
        return translate(lang, key) if key in catalogue("ja") else str(value)

    return label


def conversation_page(conversation: Conversation) -> str:
    """Where the staff UI shows a conversation, below the staff root."""
    if conversation.kind == "subjects":
        return f"/subjects/{conversation.id}/timeline"
    return f"/groups/{conversation.id}"


def refusal_page(request: Request, staff: StaffSession | None, refusal: ServiceProblem) -> Response:
    return page(request, staff, "staff/refused.html", {"refusal": refusal}, status_code=refusal.status)


async def refused(request: Request, exc: Exception) -> Response:
    """How the staff UI answers a service's refusal that no page handled: the refusal page in the reader's
    language, or, when identity says the session ended, the way back to the login page."""
    assert isinstance(exc, ServiceProblem)
    if exc.session_ended:
        request.state.staff_session_cookie = ("", 0)  # the cookie writer clears the cookie
        return sign_in_redirect(request)
    return refusal_page(request, await current_staff(request), exc)


async def relay_file(
    request: Request,
    staff: StaffSession,
    upstream: httpx.Response,
    *,
    inline: bool = False,
) -> Response:
    """Stream a file from a service to the browser, never holding it whole; the service authorized and audited
    the fetch, and the answer is never cached."""

    async def close() -> None:
        await upstream.aclose()

    if upstream.status_code != 200:
        await close()
        status = upstream.status_code
        return refusal_page(request, staff, ServiceProblem(status if status >= 400 else 502))
    return StreamingResponse(
        upstream.aiter_bytes(),
        media_type=upstream.headers.get("content-type", "application/octet-stream"),
        headers={
            "Content-Disposition": "inline"
            if inline
            else upstream.headers.get("content-disposition", "attachment"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
        background=BackgroundTask(close),
    )
