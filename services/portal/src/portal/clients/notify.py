"""The portal's client of notify: the staff member's notifications and their live stream."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from uuid import UUID

import httpx
from pydantic import Field
from yui_common.people import PersonRef

from portal.clients.base import Answer, ServiceClient

# Kinds about a post: their link opens the post (a reply within its thread, anchored).
POST_KINDS = frozenset(
    {"post.created", "post.reply", "post.mention", "support.requested", "support.answered", "support.decided"}
)


class NotifiedSubject(Answer):
    """The patient a notification is about; ``name`` is None until notify has heard of them."""

    id: UUID
    name: str | None = None
    status: str = "active"


class Notification(Answer):
    id: UUID
    kind: str
    created_at: datetime
    read_at: datetime | None = None
    subject_id: UUID | None = None
    subject: NotifiedSubject | None = None
    post_id: UUID | None = None
    parent_id: UUID | None = None
    author: PersonRef | None = None
    excerpt: str | None = None
    # Per kind: a notice's id and title, a maintenance's reason and expected end, an invitation's id…
    params: dict[str, object] = Field(default_factory=dict)
    # Sent on the live stream only: the reader's unread count after this notification.
    unread: int | None = None

    def _param(self, name: str) -> str | None:
        value = self.params.get(name)
        return str(value) if value else None

    @property
    def path(self) -> str | None:
        """Where the notification leads, below the site's root: the post itself (a reply inside its thread,
        at its anchor), the invitations on home, the operator's notice; None when there is nowhere to go."""
        if self.kind in POST_KINDS and self.post_id is not None:
            if self.kind == "support.answered" and (answer := self._param("answer_post_id")):
                return f"/staff/posts/{self.post_id}#post-{answer}"
            if self.parent_id is not None:
                return f"/staff/posts/{self.parent_id}#post-{self.post_id}"
            return f"/staff/posts/{self.post_id}"
        if self.kind == "care_team.invited":
            return "/staff#invitations-h"
        if self.kind == "federation.shared_post" and (referral := self._param("referral_id")):
            return f"/staff/shared/{referral}"
        if self.kind == "subject.exceptional_access_granted" and self.subject_id is not None:
            return f"/staff/subjects/{self.subject_id}/timeline"
        if self.kind == "notice.published" and (notice_id := self._param("notice_id")):
            return f"/notices/{notice_id}"
        if self.kind in ("maintenance.started", "maintenance.ended"):
            return "/notices"
        if self.kind in ("certificate.issued", "certificate.revoked"):
            return "/staff/certificate"
        if self.kind == "account.sign_in_backoff_started":
            return "/staff/sessions"
        if self.kind == "facility.application_waiting":
            return "/admin"
        return None


class NotificationGroup(Answer):
    """The notifications about one patient (or, with ``subject`` None, about none), newest first."""

    subject: NotifiedSubject | None = None
    newest_at: datetime
    unread: int = 0
    items: list[Notification] = Field(default_factory=list)


class Inbox(Answer):
    items: list[Notification] = Field(default_factory=list)
    unread: int = 0
    # Present when asked for with grouped=True: the items per patient, the newest group first.
    groups: list[NotificationGroup] = Field(default_factory=list)


class NotifyClient(ServiceClient):
    service = "notify"

    async def inbox(self, *, limit: int, grouped: bool = False) -> Inbox:
        params: dict[str, str | int] = {"limit": limit}
        if grouped:
            params["group"] = "subject"
        return await self.read(Inbox, "GET", "/notifications", params=params)

    async def mark_read(self, notification_id: UUID) -> None:
        await self.call("POST", f"/notifications/{notification_id}/read")

    async def mark_all_read(self) -> None:
        await self.call("POST", "/notifications/read-all")

    def live(self, last_event_id: str | None) -> AbstractAsyncContextManager[httpx.Response]:
        """notify's server-sent events, open for as long as the browser listens (no timeout)."""
        headers = {**self.headers, "Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        return self.http.stream("GET", "/notifications/stream", headers=headers, timeout=None)
