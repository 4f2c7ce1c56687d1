"""A subject's (or group's) timeline: posts, attachments, replies, mentions, read marks, versions, search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response

from portal.clients import call_as_staff, forwarded_headers, service_client
from portal.session import Staff, StaffSession
from portal.staff.pages import ServiceRefusal, api, back, gather, optional, page, refusal_page, relay_file

router = APIRouter(prefix="/staff")
CATEGORIES = (
    "visit",
    "treatment",
    "medication",
    "vital_signs",
    "test_result",
    "daily_living",
    "instruction",
    "support_progress",
    "other",
)
PAGE_SIZE = 30


@dataclass(frozen=True)
class Board:
    """Where posts live: a subject's timeline or a group's board (the same features on both)."""

    kind: str  # "subjects" or "groups"
    id: UUID

    @property
    def api_path(self) -> str:
        return f"/{self.kind}/{self.id}"

    @property
    def page_path(self) -> str:
        return f"/subjects/{self.id}/timeline" if self.kind == "subjects" else f"/groups/{self.id}"


def _attachment_ids(values: list[str]) -> list[str]:
    found = []
    for value in values:
        try:
            found.append(str(UUID(value)))
        except ValueError:
            continue
    return found[:20]


async def _upload(request: Request, staff: StaffSession, board: Board, upload: UploadFile) -> str:
    content = await upload.read()
    attachment = await api(
        request,
        staff,
        "timeline",
        "POST",
        f"{board.api_path}/attachments",
        params={"filename": upload.filename or "file"},
        content=content,
        headers={"Content-Type": "application/octet-stream"},
    )
    return str(attachment["id"])


async def _members(request: Request, staff: StaffSession, board: Board) -> list[dict[str, Any]]:
    if board.kind == "subjects":
        team = await optional(api(request, staff, "consent", "GET", f"{board.api_path}/care-team"), [])
        return [m for m in team if m["user_id"] != str(staff.user_id)]
    members = await optional(api(request, staff, "timeline", "GET", f"{board.api_path}/members"), [])
    return [m for m in members if m["user_id"] != str(staff.user_id) and m.get("status") == "member"]


async def board_context(
    request: Request, staff: StaffSession, board: Board, *, q: str = "", cursor: str = ""
) -> dict[str, Any]:
    """Posts (or search hits), the people one can mention, and whether the board still takes posts."""
    stopped = False
    posts: list[dict[str, Any]] = []
    next_cursor = None
    try:
        if q.strip():
            posts = await api(
                request, staff, "timeline", "GET", f"{board.api_path}/search", params={"q": q.strip()[:200]}
            )
        else:
            params: dict[str, Any] = {"limit": PAGE_SIZE}
            if cursor:
                params["cursor"] = cursor[:200]
            found = await api(request, staff, "timeline", "GET", f"{board.api_path}/posts", params=params)
            posts, next_cursor = found["items"], found.get("next_cursor")
    except ServiceRefusal as refusal:
        if refusal.status != 410:
            raise
        stopped = True  # T: consent withdrawn, support stopped; the board is closed
    members = [] if stopped else await _members(request, staff, board)
    return {
        "board": board,
        "posts": posts,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "q": q,
        "stopped": stopped,
        "members": members,
        "categories": CATEGORIES,
    }


@router.get("/subjects/{subject_id}/timeline", response_class=HTMLResponse)
async def subject_timeline(
    request: Request, subject_id: UUID, staff: Staff, q: str = "", cursor: str = ""
) -> Response:
    board = Board("subjects", subject_id)
    try:
        subject, context = await gather(
            api(request, staff, "consent", "GET", f"/subjects/{subject_id}"),
            board_context(request, staff, board, q=q, cursor=cursor),
        )
    except ServiceRefusal as refusal:
        if refusal.status == 410:
            return page(
                request, staff, "staff/timeline.html", {"subject": None, "stopped": True, "board": board}
            )
        return refusal_page(request, staff, refusal)
    context["stopped"] = context["stopped"] or subject.get("consent_status") == "withdrawn"
    return page(request, staff, "staff/timeline.html", {"subject": subject, **context})


@router.get("/subjects/{subject_id}/timeline/latest", response_class=HTMLResponse)
async def subject_timeline_latest(request: Request, subject_id: UUID, staff: Staff) -> Response:
    """The newest page of posts alone: an open timeline swaps it in when the live stream says a post came
    (n2), so nobody reloads to see a colleague's note. Refusals answer as the page would (410 when stopped)."""
    board = Board("subjects", subject_id)
    context = await board_context(request, staff, board)
    if context["stopped"]:
        return Response(status_code=410)
    return page(request, staff, "staff/board_post_items.html", context)


async def _create_post(
    request: Request,
    staff: StaffSession,
    board: Board,
    *,
    body: str,
    category: str,
    mentions: list[str],
    attachment_ids: list[str],
    files: list[UploadFile],
    addressee: str,
) -> Response:
    uploaded = [await _upload(request, staff, board, f) for f in files if f.filename]
    payload: dict[str, Any] = {
        "body": body.strip(),
        "category": category if category in CATEGORIES else "other",
        "mentions": _attachment_ids(mentions),
        "attachment_ids": _attachment_ids(attachment_ids) + uploaded,
    }
    if addressee.strip():
        payload["support_request"] = {"addressed_user_id": addressee.strip()}
    created = await api(request, staff, "timeline", "POST", f"{board.api_path}/posts", json=payload)
    return back(request, f"{board.page_path}#post-{created['id']}", done="posted")


@router.post("/{kind}/{board_id}/posts", response_class=HTMLResponse)
async def post_to_board(
    request: Request,
    kind: Literal["subjects", "groups"],
    board_id: UUID,
    staff: Staff,
    body: Annotated[str, Form(max_length=20000)],
    category: Annotated[str, Form(max_length=30)] = "other",
    mentions: Annotated[list[str] | None, Form()] = None,
    attachment_id: Annotated[list[str] | None, Form()] = None,
    files: Annotated[list[UploadFile] | None, File()] = None,
    addressee: Annotated[str, Form(max_length=36)] = "",
) -> Response:
    """A post on a subject's timeline or a group's board: the same form and the same rules."""
    return await _create_post(
        request,
        staff,
        Board(kind, board_id),
        body=body,
        category=category,
        mentions=mentions or [],
        attachment_ids=attachment_id or [],
        files=files or [],
        addressee=addressee,
    )


@router.post("/{kind}/{board_id}/attachments")
async def upload_attachment(
    request: Request, kind: str, board_id: UUID, staff: Staff, filename: str
) -> Response:
    """The browser's upload (with progress) streamed on to timeline as it arrives; answers with its id."""
    if kind not in ("subjects", "groups"):
        return JSONResponse({"detail": "unknown board"}, status_code=404)
    headers = {"Content-Type": "application/octet-stream"}
    length = request.headers.get("content-length")
    if length:
        headers["Content-Length"] = length
    answer = await call_as_staff(
        request,
        staff,
        "timeline",
        "POST",
        f"/{kind}/{board_id}/attachments",
        params={"filename": filename[:300]},
        content=request.stream(),
        headers=headers,
    )
    return Response(
        answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type")
    )


@router.get("/posts/{post_id}", response_class=HTMLResponse)
async def post_page(request: Request, post_id: UUID, staff: Staff) -> Response:
    """The thread: opening it marks it read (既読) and shows who has read it."""
    post = await api(request, staff, "timeline", "GET", f"/posts/{post_id}")
    board = (
        Board("subjects", UUID(post["subject_id"]))
        if post.get("subject_id")
        else Board("groups", UUID(post["group_id"]))
    )
    members = await _members(request, staff, board)
    return page(
        request,
        staff,
        "staff/post.html",
        {"post": post, "board": board, "members": members, "categories": CATEGORIES},
    )


@router.post("/posts/{post_id}/replies", response_class=HTMLResponse)
async def reply(
    request: Request,
    post_id: UUID,
    staff: Staff,
    body: Annotated[str, Form(max_length=20000)],
    category: Annotated[str, Form(max_length=30)] = "other",
    mentions: Annotated[list[str] | None, Form()] = None,
) -> Response:
    payload = {
        "body": body.strip(),
        "category": category if category in CATEGORIES else "other",
        "mentions": _attachment_ids(mentions or []),
    }
    await api(request, staff, "timeline", "POST", f"/posts/{post_id}/replies", json=payload)
    return back(request, f"/posts/{post_id}", done="replied")


@router.post("/posts/{post_id}/versions", response_class=HTMLResponse)
async def edit(
    request: Request,
    post_id: UUID,
    staff: Staff,
    body: Annotated[str, Form(max_length=20000)],
    category: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    payload: dict[str, Any] = {"body": body.strip()}
    if category in CATEGORIES:
        payload["category"] = category
    await api(request, staff, "timeline", "POST", f"/posts/{post_id}/versions", json=payload)
    return back(request, f"/posts/{post_id}", done="edited")


@router.get("/posts/{post_id}/versions", response_class=HTMLResponse)
async def versions(request: Request, post_id: UUID, staff: Staff) -> Response:
    found = await api(request, staff, "timeline", "GET", f"/posts/{post_id}/versions")
    return page(request, staff, "staff/versions.html", {"versions": found, "post_id": post_id})


@router.post("/posts/{post_id}/support-decision", response_class=HTMLResponse)
async def decide(
    request: Request, post_id: UUID, staff: Staff, decision: Annotated[str, Form(max_length=10)]
) -> Response:
    if decision not in ("adopted", "declined"):
        return back(request, f"/posts/{post_id}")
    await api(
        request,
        staff,
        "timeline",
        "POST",
        f"/posts/{post_id}/support-request/decision",
        json={"decision": decision},
    )
    return back(request, f"/posts/{post_id}", done="decided")


@router.get("/support-requests", response_class=HTMLResponse)
async def support_requests(request: Request, staff: Staff, box: str = "received") -> Response:
    box = box if box in ("received", "sent") else "received"
    found = await optional(
        api(request, staff, "timeline", "GET", "/support-requests", params={"box": box}), []
    )
    return page(request, staff, "staff/support_requests.html", {"posts": found, "box": box})


async def _relay_file(request: Request, staff: StaffSession, path: str, *, inline: bool) -> Response:
    headers = {**forwarded_headers(request), **staff.headers}
    return await relay_file(
        request, staff, service_client(request, "timeline"), path, headers=headers, inline=inline
    )


@router.get("/attachments/{attachment_id}/download")
async def download(request: Request, attachment_id: UUID, staff: Staff) -> Response:
    return await _relay_file(request, staff, f"/attachments/{attachment_id}/content", inline=False)


@router.get("/attachments/{attachment_id}/thumbnail")
async def thumbnail(request: Request, attachment_id: UUID, staff: Staff) -> Response:
    return await _relay_file(request, staff, f"/attachments/{attachment_id}/thumbnail", inline=True)
