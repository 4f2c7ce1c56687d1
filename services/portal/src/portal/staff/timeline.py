"""A conversation's pages (a subject's timeline, a group's board): posts, attachments, replies, mentions,
read marks, versions, search; on a subject's timeline the post form also records vital signs (rec3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast
from uuid import UUID

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from yui_common.people import PersonRef
from yui_common.vocabulary import POST_CATEGORIES, PostCategory
from yui_common.web import language_of, translate

from portal.clients.base import ServiceProblem
from portal.clients.consent import ConsentClient
from portal.clients.timeline import VIEWABLE_IMAGES, Conversation, ConversationKind, Post, TimelineClient
from portal.session import Staff, StaffSession
from portal.staff.medications import duplicate_warnings
from portal.staff.pages import (
    ConsentApi,
    TimelineApi,
    back,
    conversation_page,
    gather,
    optional,
    page,
    refusal_page,
    relay_file,
)
from portal.staff.vitals import (
    MEASURED_AT,
    MEASURED_AT_SHOWN,
    NOTE_LIMIT,
    entry_error,
    now_for_form,
    read_entry,
    refused_fields,
)
from portal.staff.vitals_chart import FIELDS

router = APIRouter(prefix="/staff")
PAGE_SIZE = 30


def _category(value: str, default: PostCategory = "other") -> PostCategory:
    return value if value in POST_CATEGORIES else default  # type: ignore[return-value]


def _ids(values: list[str]) -> list[str]:
    """The UUIDs among what a form sent (at most 20): anything else is dropped, not refused."""
    found = []
    for value in values:
        try:
            found.append(str(UUID(value)))
        except ValueError:
            continue
    return found[:20]


async def _members(timeline: TimelineClient, conversation: Conversation) -> list[PersonRef]:
    """Whom one can mention or ask, by name: the care team of a subject, the members of a group (never
    oneself); timeline knows them from identity's events, so a colleague who never signed in has a name."""
    return await optional(timeline.mention_candidates(conversation), [])


async def conversation_context(
    staff: StaffSession,
    consent: ConsentClient,
    timeline: TimelineClient,
    conversation: Conversation,
    *,
    q: str = "",
    cursor: str = "",
) -> dict[str, Any]:
    """Posts (or search hits), the people one can mention, and whether the conversation still takes posts.

    A page of posts comes with the members in one call to timeline (issue 13); search hits and the members
    are asked for at once. The
    members are dropped when the conversation turns out to be closed."""

    async def posts_or_stopped() -> tuple[list[Post], str | None, UUID | None, bool, list[PersonRef]]:
        try:
            if q.strip():
                hits, members = await gather(
                    timeline.search(conversation, q.strip()[:200]), _members(timeline, conversation)
                )
                return hits, None, None, False, members
            found = await timeline.conversation_page(conversation, limit=PAGE_SIZE, cursor=cursor[:200])
            page = found.page
            return page.items, page.next_cursor, page.first_unread_post_id, False, found.mention_candidates
        except ServiceProblem as refusal:
            if refusal.status != 410:
                raise
            # T: consent withdrawn, support stopped; the conversation is closed (and nobody is to be mentioned)
            return [], None, None, True, []

    posts, next_cursor, first_unread, stopped, members = await posts_or_stopped()
    return {
        "conversation": conversation,
        "posts": posts,
        "first_unread": first_unread,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "q": q,
        "stopped": stopped,
        "members": members,
        "categories": POST_CATEGORIES,
    }


@router.get("/subjects/{subject_id}/timeline", response_class=HTMLResponse)
async def subject_timeline(
    request: Request,
    subject_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    q: str = "",
    cursor: str = "",
) -> Response:
    return await _subject_timeline_page(request, staff, consent, timeline, subject_id, q=q, cursor=cursor)


async def _subject_timeline_page(
    request: Request,
    staff: StaffSession,
    consent: ConsentClient,
    timeline: TimelineClient,
    subject_id: UUID,
    *,
    q: str = "",
    cursor: str = "",
    draft: dict[str, str] | None = None,
    form_error: str = "",
    status_code: int = 200,
) -> Response:
    """The timeline page; after a refused post, with the form as it was sent and why (``form_error``)."""
    conversation = Conversation("subjects", subject_id)
    try:
        subject, context, duplicates = await gather(
            consent.subject(subject_id),
            conversation_context(staff, consent, timeline, conversation, q=q, cursor=cursor),
            duplicate_warnings(timeline, subject_id),  # rec2's banner; a failure is no banner
        )
    except ServiceProblem as refusal:
        if refusal.status == 410:
            context = {"subject": None, "stopped": True, "conversation": conversation}
            return page(request, staff, "staff/timeline.html", context)
        if refusal.session_ended:
            raise
        return refusal_page(request, staff, refusal)
    context["stopped"] = context["stopped"] or subject.consent_status == "withdrawn"
    context |= {
        "vitals_fields": FIELDS,
        "draft": draft or {MEASURED_AT: now_for_form()},
        "vitals_open": any((draft or {}).get(f.name) for f in FIELDS),
        "form_error": form_error,
        "duplicate_warnings": duplicates,
    }
    return page(request, staff, "staff/timeline.html", {"subject": subject, **context}, status_code)


@router.get("/subjects/{subject_id}/timeline/latest", response_class=HTMLResponse)
async def subject_timeline_latest(
    request: Request, subject_id: UUID, staff: Staff, consent: ConsentApi, timeline: TimelineApi
) -> Response:
    """The newest page of posts alone: an open timeline swaps it in when the live stream says a post came
    (n2), so nobody reloads to see a colleague's note. Refusals answer as the page would (410 when stopped)."""
    conversation = Conversation("subjects", subject_id)
    context = await conversation_context(staff, consent, timeline, conversation)
    if context["stopped"]:
        return Response(status_code=410)
    return page(request, staff, "staff/conversation_post_items.html", context)


@router.post("/{kind}/{conversation_id}/posts", response_class=HTMLResponse)
async def post_to_conversation(
    request: Request,
    kind: Literal["subjects", "groups"],
    conversation_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    timeline: TimelineApi,
    body: Annotated[str, Form(max_length=20000)] = "",
    category: Annotated[str, Form(max_length=30)] = "other",
    mentions: Annotated[list[str] | None, Form()] = None,
    attachment_id: Annotated[list[str] | None, Form()] = None,
    files: Annotated[list[UploadFile] | None, File()] = None,
    addressee: Annotated[str, Form(max_length=36)] = "",
    systolic: Annotated[str, Form(max_length=10)] = "",
    diastolic: Annotated[str, Form(max_length=10)] = "",
    pulse: Annotated[str, Form(max_length=10)] = "",
    spo2: Annotated[str, Form(max_length=10)] = "",
    temperature: Annotated[str, Form(max_length=10)] = "",
    respiration: Annotated[str, Form(max_length=10)] = "",
    weight: Annotated[str, Form(max_length=10)] = "",
    glucose: Annotated[str, Form(max_length=10)] = "",
    measured_at: Annotated[str, Form(max_length=40)] = "",
    measured_at_shown: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """A post on a subject's timeline or a group's board: the same form and the same rules. On a subject's
    timeline, values under 「バイタルを記録」 make it a vital-signs entry instead, the text its note (rec3)."""
    conversation = Conversation(kind, conversation_id)
    if kind == "subjects":
        sent = {
            "body": body,
            "systolic": systolic,
            "diastolic": diastolic,
            "pulse": pulse,
            "spo2": spo2,
            "temperature": temperature,
            "respiration": respiration,
            "weight": weight,
            "glucose": glucose,
            MEASURED_AT: measured_at,
            MEASURED_AT_SHOWN: measured_at_shown,
        }
        entry = read_entry(sent)
        lang = language_of(request)

        async def again(error: str) -> Response:
            return await _subject_timeline_page(
                request,
                staff,
                consent,
                timeline,
                conversation_id,
                draft=sent,
                form_error=error,
                status_code=422,
            )

        if entry.given:
            if entry.invalid:
                return await again(entry_error(lang, entry.invalid))
            if (files and any(f.filename for f in files)) or attachment_id or mentions or addressee.strip():
                # The vitals' post takes a note only: nothing the nurse chose is dropped without a word.
                return await again(translate(lang, "vitals.error.with_extras"))
            if len(body.strip()) > NOTE_LIMIT:
                return await again(entry_error(lang, ["note"]))
            try:
                recorded = await timeline.record_vitals(conversation_id, entry.values, body.strip())
            except ServiceProblem as refusal:
                if refusal.status != 422:
                    raise
                return await again(entry_error(lang, refused_fields(refusal)))
            return back(
                request,
                f"/subjects/{conversation_id}/timeline#post-{recorded.post_id}",
                done="vitals_recorded",
            )
        if not body.strip():
            return await again(translate(lang, "vitals.error.empty"))
    uploaded = [
        str((await timeline.upload(conversation, filename=f.filename or "file", content=await f.read())).id)
        for f in files or []
        if f.filename
    ]
    created = await timeline.post(
        conversation,
        body=body.strip(),
        category=_category(category),
        mentions=_ids(mentions or []),
        attachment_ids=_ids(attachment_id or []) + uploaded,
        addressee=addressee.strip(),
    )
    return back(request, f"{conversation_page(conversation)}#post-{created.id}", done="posted")


@router.post("/{kind}/{conversation_id}/attachments")
async def upload_attachment(
    request: Request, kind: str, conversation_id: UUID, timeline: TimelineApi, filename: str
) -> Response:
    """The browser's upload (with progress) streamed on to timeline as it arrives; answers with its id."""
    if kind != "subjects" and kind != "groups":
        return JSONResponse({"detail": "unknown board"}, status_code=404)
    answer = await timeline.relay_upload(
        Conversation(cast(ConversationKind, kind), conversation_id),
        filename=filename[:300],
        content=request.stream(),
        length=request.headers.get("content-length"),
    )
    return Response(
        answer.content, status_code=answer.status_code, media_type=answer.headers.get("content-type")
    )


@router.get("/posts/{post_id}", response_class=HTMLResponse)
async def post_page(
    request: Request, post_id: UUID, staff: Staff, consent: ConsentApi, timeline: TimelineApi
) -> Response:
    """The thread: opening it marks it read (既読) and shows who has read it."""
    post = await timeline.thread(post_id)
    conversation = post.conversation
    members = await _members(timeline, conversation)
    context = {"post": post, "conversation": conversation, "members": members, "categories": POST_CATEGORIES}
    return page(request, staff, "staff/post.html", context)


@router.post("/posts/{post_id}/replies", response_class=HTMLResponse)
async def reply(
    request: Request,
    post_id: UUID,
    timeline: TimelineApi,
    body: Annotated[str, Form(max_length=20000)],
    category: Annotated[str, Form(max_length=30)] = "other",
    mentions: Annotated[list[str] | None, Form()] = None,
) -> Response:
    await timeline.reply(
        post_id, body=body.strip(), category=_category(category), mentions=_ids(mentions or [])
    )
    return back(request, f"/posts/{post_id}", done="replied")


@router.post("/posts/{post_id}/versions", response_class=HTMLResponse)
async def edit(
    request: Request,
    post_id: UUID,
    timeline: TimelineApi,
    body: Annotated[str, Form(max_length=20000)],
    category: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    kept = category if category in POST_CATEGORIES else None
    await timeline.edit(post_id, body=body.strip(), category=kept)  # type: ignore[arg-type]
    return back(request, f"/posts/{post_id}", done="edited")


@router.get("/posts/{post_id}/versions", response_class=HTMLResponse)
async def versions(request: Request, post_id: UUID, staff: Staff, timeline: TimelineApi) -> Response:
    found = await timeline.versions(post_id)
    return page(request, staff, "staff/versions.html", {"versions": found, "post_id": post_id})


@router.post("/posts/{post_id}/support-decision", response_class=HTMLResponse)
async def decide(
    request: Request, post_id: UUID, timeline: TimelineApi, decision: Annotated[str, Form(max_length=10)]
) -> Response:
    if decision != "adopted" and decision != "declined":
        return back(request, f"/posts/{post_id}")
    await timeline.decide_support(post_id, cast(Literal["adopted", "declined"], decision))
    return back(request, f"/posts/{post_id}", done="decided")


@router.get("/support-requests", response_class=HTMLResponse)
async def support_requests(
    request: Request, staff: Staff, timeline: TimelineApi, box: str = "received"
) -> Response:
    chosen: Literal["received", "sent"] = "sent" if box == "sent" else "received"
    found = await optional(timeline.support_requests(chosen), [])
    return page(request, staff, "staff/support_requests.html", {"posts": found, "box": chosen})


class SeenPosts(BaseModel):
    """What read_marks.js sends: the posts and replies that have been on screen."""

    model_config = ConfigDict(extra="forbid")
    post_ids: list[UUID] = Field(min_length=1, max_length=100)


@router.post("/{kind}/{conversation_id}/read-marks")
async def mark_read(kind: str, conversation_id: UUID, seen: SeenPosts, timeline: TimelineApi) -> Response:
    """Posts that have been on the reader's screen count as read (既読): read_marks.js sends them in batches
    (CSRF header and origin checked like every form), timeline authorizes and audits the batch."""
    if kind != "subjects" and kind != "groups":
        return JSONResponse({"detail": "unknown board"}, status_code=404)
    conversation = Conversation(cast(ConversationKind, kind), conversation_id)
    try:
        marked = await timeline.mark_read(conversation, seen.post_ids)
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        return JSONResponse({"marked": 0}, status_code=refusal.status)
    return JSONResponse({"marked": marked.marked})


@router.get("/attachments/{attachment_id}/content")
async def content(
    request: Request, attachment_id: UUID, staff: Staff, timeline: TimelineApi, download: bool = False
) -> Response:
    """The file for the page's viewer: a photo or a PDF is shown inline (nothing lands on the tablet);
    every other type, and any file when 「ダウンロード」 was pressed (?download=1), is an attachment."""
    upstream = await timeline.open_attachment(attachment_id, thumbnail=False)
    kind = upstream.headers.get("content-type", "").split(";")[0].strip().lower()
    viewable = kind in VIEWABLE_IMAGES or kind == "application/pdf"
    return await relay_file(request, staff, upstream, inline=viewable and not download)


@router.get("/attachments/{attachment_id}/download")
async def download(request: Request, attachment_id: UUID, staff: Staff, timeline: TimelineApi) -> Response:
    upstream = await timeline.open_attachment(attachment_id, thumbnail=False)
    return await relay_file(request, staff, upstream, inline=False)


@router.get("/attachments/{attachment_id}/thumbnail")
async def thumbnail(request: Request, attachment_id: UUID, staff: Staff, timeline: TimelineApi) -> Response:
    upstream = await timeline.open_attachment(attachment_id, thumbnail=True)
    return await relay_file(request, staff, upstream, inline=True)
