"""Groups (boards not tied to a subject): mine and my invitations, create, invite, join, the group's board."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from yui_common.vocabulary import GROUP_PURPOSES, GroupPurpose
from yui_common.web import language_of

from portal.clients.timeline import Conversation
from portal.session import Staff
from portal.staff.colleagues import colleague_search
from portal.staff.pages import ConsentApi, IdentityApi, TimelineApi, back, gather, optional, page
from portal.staff.timeline import conversation_context

router = APIRouter(prefix="/staff")
# The form offers information exchange first: what most groups are for.
PURPOSE_CHOICES = ("information_exchange", *(p for p in GROUP_PURPOSES if p != "information_exchange"))


@router.get("/groups", response_class=HTMLResponse)
async def groups(request: Request, staff: Staff, timeline: TimelineApi) -> Response:
    mine = await optional(timeline.groups(), [])
    return page(request, staff, "staff/groups.html", {"groups": mine, "purposes": PURPOSE_CHOICES})


@router.post("/groups", response_class=HTMLResponse)
async def create_group(
    request: Request,
    timeline: TimelineApi,
    name: Annotated[str, Form(max_length=200)],
    purpose: Annotated[str, Form(max_length=40)] = "information_exchange",
    description: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    chosen: GroupPurpose = purpose if purpose in GROUP_PURPOSES else "other"  # type: ignore[assignment]
    group = await timeline.create_group(name=name.strip(), purpose=chosen, description=description)
    return back(request, f"/groups/{group.id}", done="group_created")


@router.get("/groups/{group_id}", response_class=HTMLResponse)
async def group_page(
    request: Request,
    group_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    identity: IdentityApi,
    timeline: TimelineApi,
    q: str = "",
    cursor: str = "",
    colleague: Annotated[str, Query(max_length=100)] = "",
    facility_id: Annotated[str, Query(max_length=36)] = "",
    profession: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The group's board and members; a member finds colleagues to invite by name (``colleague``, facility,
    profession in identity's directory), never by id."""
    group, members = await gather(timeline.group(group_id), optional(timeline.group_members(group_id), []))
    conversation = Conversation("groups", group_id)
    context = (
        await conversation_context(staff, consent, timeline, conversation, q=q, cursor=cursor)
        if group.my_status == "member"
        else {"posts": [], "conversation": conversation, "members": []}
    )
    search: dict[str, object] = {}
    if group.my_status == "member":
        # Members and those invited already are not offered again.
        present = {m.user_id for m in members if m.status in ("member", "invited")}
        search = await colleague_search(
            identity,
            q=colleague,
            facility_id=facility_id,
            profession=profession,
            lang=language_of(request),
            exclude=present,
        )
    return page(
        request, staff, "staff/group.html", {**context, **search, "group": group, "group_members": members}
    )


@router.post("/groups/{group_id}/invitations", response_class=HTMLResponse)
async def invite(
    request: Request, group_id: UUID, timeline: TimelineApi, user_id: Annotated[UUID, Form()]
) -> Response:
    """Invite the colleague picked from the directory (their id travels in a hidden field, never shown)."""
    await timeline.invite_to_group(group_id, user_id)
    return back(request, f"/groups/{group_id}#members-h", done="invited")


@router.post("/groups/{group_id}/join", response_class=HTMLResponse)
async def join(request: Request, group_id: UUID, timeline: TimelineApi) -> Response:
    await timeline.join_group(group_id)
    return back(request, f"/groups/{group_id}", done="joined")


@router.post("/groups/{group_id}/leave", response_class=HTMLResponse)
async def leave(request: Request, group_id: UUID, staff: Staff, timeline: TimelineApi) -> Response:
    await timeline.leave_group(group_id, staff.user_id)
    return back(request, "/groups", done="left_group")
