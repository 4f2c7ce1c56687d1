"""Groups (boards not tied to a subject): mine and my invitations, create, invite, join, the group's board."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from portal.session import Staff
from portal.staff.pages import api, back, gather, optional, page
from portal.staff.timeline import Board, board_context

router = APIRouter(prefix="/staff")
PURPOSES = ("information_exchange", "training", "administrative", "other")


@router.get("/groups", response_class=HTMLResponse)
async def groups(request: Request, staff: Staff) -> Response:
    mine = await optional(api(request, staff, "timeline", "GET", "/groups"), [])
    return page(request, staff, "staff/groups.html", {"groups": mine, "purposes": PURPOSES})


@router.post("/groups", response_class=HTMLResponse)
async def create_group(
    request: Request,
    staff: Staff,
    name: Annotated[str, Form(max_length=200)],
    purpose: Annotated[str, Form(max_length=40)] = "information_exchange",
    description: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    body = {
        "name": name.strip(),
        "purpose": purpose if purpose in PURPOSES else "other",
        "description": description,
    }
    group = await api(request, staff, "timeline", "POST", "/groups", json=body)
    return back(request, f"/groups/{group['id']}", done="group_created")


@router.get("/groups/{group_id}", response_class=HTMLResponse)
async def group_page(
    request: Request, group_id: UUID, staff: Staff, q: str = "", cursor: str = ""
) -> Response:
    group, members = await gather(
        api(request, staff, "timeline", "GET", f"/groups/{group_id}"),
        optional(api(request, staff, "timeline", "GET", f"/groups/{group_id}/members"), []),
    )
    context = (
        await board_context(request, staff, Board("groups", group_id), q=q, cursor=cursor)
        if group.get("my_status") == "member"
        else {"posts": [], "board": Board("groups", group_id), "members": []}
    )
    return page(request, staff, "staff/group.html", {**context, "group": group, "group_members": members})


@router.post("/groups/{group_id}/invitations", response_class=HTMLResponse)
async def invite(
    request: Request, group_id: UUID, staff: Staff, user_id: Annotated[UUID, Form()]
) -> Response:
    await api(
        request,
        staff,
        "timeline",
        "POST",
        f"/groups/{group_id}/invitations",
        json={"user_id": str(user_id)},
    )
    return back(request, f"/groups/{group_id}", done="invited")


@router.post("/groups/{group_id}/join", response_class=HTMLResponse)
async def join(request: Request, group_id: UUID, staff: Staff) -> Response:
    await api(request, staff, "timeline", "POST", f"/groups/{group_id}/invitations/accept")
    return back(request, f"/groups/{group_id}", done="joined")


@router.post("/groups/{group_id}/leave", response_class=HTMLResponse)
async def leave(request: Request, group_id: UUID, staff: Staff) -> Response:
    await api(request, staff, "timeline", "DELETE", f"/groups/{group_id}/members/{staff.user_id}")
    return back(request, "/groups", done="left_group")
