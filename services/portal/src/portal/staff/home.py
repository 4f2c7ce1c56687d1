"""The staff home (my subjects, latest posts, notifications, notices) and the live notification inbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from yui_common.web import language_of, translate

from portal.clients.consent import CareTeamInvitation, SubjectSummary
from portal.clients.notify import Inbox, Notification, NotificationGroup
from portal.clients.timeline import Feed, Post
from portal.notices import service as notices
from portal.operations.gate_cache import read_through
from portal.session import Staff, StaffSession
from portal.staff.pages import ConsentApi, NotifyApi, TimelineApi, back, gather, labeller, optional, page

router = APIRouter(prefix="/staff")


async def users_notices(request: Request, staff: StaffSession) -> list[dict[str, Any]]:
    """Users-only notices of the network (P2), through the gate's cache (emptied when a notice changes)."""

    async def load() -> tuple[tuple[str, str], ...]:
        async with request.app.state.sessionmaker() as session:
            found = await notices.visible_notices(session, tenant=staff.tenant, viewer=staff)
        return tuple((n.title, n.body) for n in found if n.audience == "users")

    found = await read_through(request.app, ("users-notices", staff.tenant), load)
    return [{"title": title, "body": body} for title, body in found]


@router.get("", response_class=HTMLResponse)
async def home(
    request: Request,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    notify: NotifyApi,
) -> Response:
    subjects: list[SubjectSummary]
    feed: Feed
    inbox: Inbox
    invitations: list[CareTeamInvitation]
    subjects, feed, inbox, invitations, notices = await gather(
        optional(consent.subjects(limit=200), []),
        optional(timeline.feed(), Feed()),
        optional(notify.inbox(limit=10, grouped=True), Inbox()),
        optional(consent.my_invitations(), []),
        users_notices(request, staff),
    )
    unread = {item.subject_id: item.unread_count for item in feed.items if item.subject_id}
    names = {s.id: s.name for s in subjects}
    newest: list[Post] = [item.latest_post for item in feed.items if item.latest_post and item.subject_id]
    latest = sorted(newest, key=lambda post: post.created_at, reverse=True)[:10]
    context = {
        "subjects": subjects,
        "unread": unread,
        "subject_names": names,
        "latest": latest,
        "inbox": inbox,
        "invitations": [i for i in invitations if i.status == "pending"],
        "notices": notices,
    }
    return page(request, staff, "staff/home.html", context)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications(request: Request, staff: Staff, notify: NotifyApi) -> Response:
    inbox = await notify.inbox(limit=100, grouped=True)
    return page(request, staff, "staff/notifications.html", {"inbox": inbox})


@router.post("/notifications/{notification_id}/read")
async def mark_read(request: Request, notification_id: UUID, notify: NotifyApi) -> Response:
    await notify.mark_read(notification_id)
    return back(request, "/notifications")


@router.post("/notifications/read-all")
async def mark_all_read(request: Request, notify: NotifyApi) -> Response:
    await notify.mark_all_read()
    return back(request, "/notifications")


def notification_html(request: Request, template: str, **context: Any) -> str:
    """A notification's line or group, rendered on the server in the reader's language (the live stream sends
    it as is)."""
    env = request.app.state.templates
    lang = language_of(request)
    return str(
        env.get_template(template).render(
            lang=lang,
            root=request.scope.get("root_path", ""),
            staff_root=f"{request.scope.get('root_path', '')}/staff",
            _=lambda key, **params: translate(lang, key, **params),
            label=labeller(lang),
            **context,
        )
    )


def live_notification(request: Request, notification: Notification) -> dict[str, Any]:
    """What the browser gets for one new notification: its line, and the patient's group holding just that
    line for a page that has no group of this patient yet (static/portal/notifications.js)."""
    group = NotificationGroup(
        subject=notification.subject,
        newest_at=notification.created_at,
        unread=0 if notification.read_at else 1,
        items=[notification],
    )
    return {
        "html": notification_html(request, "staff/notification_item.html", n=notification),
        "group": str(notification.subject_id) if notification.subject_id else "general",
        "group_html": notification_html(request, "staff/notification_group.html", g=group),
        "unread": notification.unread,
        # An open timeline of this subject takes in the new post (staff.js).
        "kind": notification.kind,
        "subject_id": str(notification.subject_id) if notification.subject_id else None,
    }


@router.get("/notifications/stream")
async def notification_stream(request: Request, notify: NotifyApi) -> StreamingResponse:
    """notify's live stream relayed to the browser: each notification rendered, with the unread count."""
    last = request.headers.get("last-event-id")

    async def relay() -> AsyncIterator[str]:
        try:
            async with notify.live(last) as upstream:
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
                            notification = Notification.model_validate_json(event["data"])
                            data = json.dumps(live_notification(request, notification))
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
