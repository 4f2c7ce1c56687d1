"""The staff home (my subjects, latest posts, notifications, notices) and the live notification inbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.db import DbSession
from yui_common.web import language_of, translate

from portal.clients import forwarded_headers, service_client
from portal.notices import service as notices
from portal.session import Staff, StaffSession
from portal.staff.pages import api, back, gather, labeller, optional, page

router = APIRouter(prefix="/staff")


async def users_notices(session: AsyncSession, staff: StaffSession) -> list[dict[str, Any]]:
    """Users-only notices of the network (P2), read in the request's own session."""
    found = await notices.visible_notices(session, tenant=staff.tenant, viewer=staff)
    return [{"title": n.title, "body": n.body} for n in found if n.audience == "users"]


@router.get("", response_class=HTMLResponse)
async def home(request: Request, staff: Staff, session: DbSession) -> Response:
    subjects, feed, inbox, invitations, notices = await gather(
        optional(api(request, staff, "consent", "GET", "/subjects", params={"limit": 200}), []),
        optional(api(request, staff, "timeline", "GET", "/feed"), {"items": [], "total_unread": 0}),
        optional(api(request, staff, "notify", "GET", "/notifications", params={"limit": 10}), {"items": []}),
        optional(api(request, staff, "consent", "GET", "/care-team/invitations"), []),
        users_notices(session, staff),
    )
    unread = {item["subject_id"]: item["unread_count"] for item in feed["items"] if item.get("subject_id")}
    names = {s["id"]: s["name"] for s in subjects}
    latest = sorted(
        (item["latest_post"] for item in feed["items"] if item.get("latest_post") and item.get("subject_id")),
        key=lambda post: post["created_at"],
        reverse=True,
    )[:10]
    context = {
        "subjects": subjects,
        "unread": unread,
        "subject_names": names,
        "latest": latest,
        "inbox": inbox,
        "invitations": [i for i in invitations if i.get("status") == "pending"],
        "notices": notices,
    }
    return page(request, staff, "staff/home.html", context)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications(request: Request, staff: Staff) -> Response:
    inbox = await api(request, staff, "notify", "GET", "/notifications", params={"limit": 100})
    return page(request, staff, "staff/notifications.html", {"inbox": inbox})


@router.post("/notifications/{notification_id}/read")
async def mark_read(request: Request, notification_id: UUID, staff: Staff) -> Response:
    await api(request, staff, "notify", "POST", f"/notifications/{notification_id}/read")
    return back(request, "/notifications")


@router.post("/notifications/read-all")
async def mark_all_read(request: Request, staff: Staff) -> Response:
    await api(request, staff, "notify", "POST", "/notifications/read-all")
    return back(request, "/notifications")


def notification_item_html(request: Request, notification: dict[str, Any]) -> str:
    """One inbox line, rendered on the server in the reader's language (the live stream sends it as is)."""
    env = request.app.state.templates
    lang = language_of(request)
    return str(
        env.get_template("staff/notification_item.html").render(
            n=notification,
            lang=lang,
            root=request.scope.get("root_path", ""),
            staff_root=f"{request.scope.get('root_path', '')}/staff",
            _=lambda key, **params: translate(lang, key, **params),
            label=labeller(lang),
        )
    )


@router.get("/notifications/stream")
async def notification_stream(request: Request, staff: Staff) -> StreamingResponse:
    """notify's live stream relayed to the browser: each notification rendered, with the unread count."""
    headers = {**forwarded_headers(request), **staff.headers, "Accept": "text/event-stream"}
    last = request.headers.get("last-event-id")
    if last:
        headers["Last-Event-ID"] = last

    async def relay() -> AsyncIterator[str]:
        client = service_client(request, "notify")
        try:
            async with client.stream(
                "GET", "/notifications/stream", headers=headers, timeout=None
            ) as upstream:
                if upstream.status_code != 200:
                    yield "retry: 10000\n\n"
                    return
                event: dict[str, str] = {}
                async for line in upstream.aiter_lines():
                    if line.startswith(":"):
                        yield ": heartbeat\n\n"
                    elif line.startswith("retry:"):
                        yield f"{line}\n\n"
                    elif line == "":
                        if event.get("event") == "notification" and event.get("data"):
                            notification = json.loads(event["data"])
                            payload = {
                                "html": notification_item_html(request, notification),
                                "unread": notification.get("unread"),
                                # An open timeline of this subject takes in the new post (staff.js).
                                "kind": notification.get("kind"),
                                "subject_id": notification.get("subject_id"),
                            }
                            data = json.dumps(payload)
                            yield f"id: {event.get('id', '')}\nevent: notification\ndata: {data}\n\n"
                        event = {}
                    else:
                        name, _, value = line.partition(":")
                        event[name] = value.removeprefix(" ")
        except Exception:
            return

    return StreamingResponse(
        relay(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
