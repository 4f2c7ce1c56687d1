"""The portal's client of notify: the staff member's notifications and their live stream."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from uuid import UUID

import httpx
from pydantic import Field

from portal.clients.base import Answer, ServiceClient


class Notification(Answer):
    id: UUID
    kind: str
    created_at: datetime
    read_at: datetime | None = None
    subject_id: UUID | None = None
    # Sent on the live stream only: the reader's unread count after this notification.
    unread: int | None = None


class Inbox(Answer):
    items: list[Notification] = Field(default_factory=list)
    unread: int = 0


class NotifyClient(ServiceClient):
    service = "notify"

    async def inbox(self, *, limit: int) -> Inbox:
        return await self.read(Inbox, "GET", "/notifications", params={"limit": limit})

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
