"""The portal's client of timeline: conversations (a subject's timeline, a group's board), their posts,
attachments, replies, versions and support requests, the feed, groups, a subject's vital signs, and a subject's
summary (基本情報・緊急時情報) with its versions."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

import httpx
from pydantic import Field
from yui_common.people import PersonRef
from yui_common.vocabulary import GroupPurpose, PostCategory

from portal.clients.base import Answer, ServiceClient

ConversationKind = Literal["subjects", "groups"]


@dataclass(frozen=True)
class Conversation:
    """Where posts live, as timeline addresses it: a subject's timeline or a group's board (the same
    features on both). Timeline's own Board also knows the tenant; the portal needs only the address."""

    kind: ConversationKind
    id: UUID

    @property
    def api_path(self) -> str:
        return f"/{self.kind}/{self.id}"


class Attachment(Answer):
    id: UUID
    filename: str
    content_type: str = "application/octet-stream"
    size: int
    has_thumbnail: bool = False

    @property
    def viewable(self) -> str | None:
        """How the page's viewer shows it ("image", "pdf"), or None: offered for download only."""
        if self.content_type in VIEWABLE_IMAGES:
            return "image"
        if self.content_type == "application/pdf":
            return "pdf"
        return None


# What the browser shows inline, in the page's viewer; every other file is downloaded, and only when asked.
VIEWABLE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


class SupportRequest(Answer):
    addressed_user_id: UUID | None = None
    addressee: PersonRef | None = None
    addressed_facility_name: str | None = None
    status: str


class ReadMark(Answer):
    user_id: UUID
    reader: PersonRef
    read_at: datetime


class Reply(Answer):
    """A reply as the timeline shows it under its post."""

    id: UUID
    author_id: UUID
    author: PersonRef
    category: str
    body: str
    created_at: datetime
    attachments: list[Attachment] = Field(default_factory=list)
    unread: bool = False


class Post(Answer):
    id: UUID
    subject_id: UUID | None = None
    group_id: UUID | None = None
    author_id: UUID
    author: PersonRef
    category: str
    body: str | None = None
    version: int
    mentioned_user_ids: list[UUID] = Field(default_factory=list)
    mentioned: list[PersonRef] = Field(default_factory=list)
    created_at: datetime
    attachments: list[Attachment] = Field(default_factory=list)
    reply_count: int = 0
    read_count: int = 0
    read_by_me: bool = False
    unread: bool = False
    read_by: list[ReadMark] = Field(default_factory=list)
    recent_replies: list[Reply] = Field(default_factory=list)
    support_request: SupportRequest | None = None

    @property
    def conversation(self) -> Conversation:
        if self.subject_id is not None:
            return Conversation("subjects", self.subject_id)
        assert self.group_id is not None, "a post is on a subject's timeline or a group's board"
        return Conversation("groups", self.group_id)


class Thread(Post):
    """A post with all its replies and everyone who has read it."""

    replies: list[Post] = Field(default_factory=list)


class PostPage(Answer):
    items: list[Post]
    next_cursor: str | None = None
    first_unread_post_id: UUID | None = None


class ReadMarks(Answer):
    marked: int


class MentionCandidates(Answer):
    items: list[PersonRef]


class ConversationPage(Answer):
    page: PostPage
    mention_candidates: list[PersonRef] = Field(default_factory=list)


class PostVersion(Answer):
    version: int
    author_id: UUID
    author: PersonRef
    category: str
    body: str
    created_at: datetime


class FeedItem(Answer):
    subject_id: UUID | None = None
    latest_post: Post | None = None
    unread_count: int = 0


class Feed(Answer):
    items: list[FeedItem] = Field(default_factory=list)
    total_unread: int = 0


class Group(Answer):
    id: UUID
    name: str
    purpose: str
    description: str = ""
    my_status: str | None = None


class GroupMember(Answer):
    user_id: UUID
    member: PersonRef | None = None
    status: str


class Created(Answer):
    id: UUID


class Vitals(Answer):
    """One measurement of vital signs as timeline keeps it beside its post (rec3); a measure not taken is None."""

    post_id: UUID
    subject_id: UUID
    measured_at: datetime
    recorded_at: datetime
    author: PersonRef
    systolic: int | None = None
    diastolic: int | None = None
    pulse: int | None = None
    spo2: int | None = None
    temperature: float | None = None
    respiration: int | None = None
    weight: float | None = None
    glucose: int | None = None


class VitalsPeriod(Answer):
    """A subject's measurements of the last ``days`` days, oldest first."""

    subject_id: UUID
    days: int
    since: datetime
    items: list[Vitals] = Field(default_factory=list)


# --- a subject's medications (rec2) and the network's drug master -------------------------------------------


class Medication(Answer):
    """One prescription on the subject's list: what a facility prescribed, its dose and period. ``state`` is
    active, planned (starts later) or ended; ``source`` is manual or import (from a hospital letter)."""

    id: UUID
    subject_id: UUID
    drug_code: str | None = None
    name: str
    ingredient: str
    dose: str
    start_date: date
    end_date: date | None = None
    prescriber: str = ""
    facility: str
    state: Literal["active", "ended", "planned"]
    source: Literal["manual", "import"] = "manual"
    recorded_by: PersonRef
    created_at: datetime
    updated_at: datetime


class DuplicateWarning(Answer):
    """Active medications of different facilities with one ingredient (kind "ingredient") or of one known
    duplicate class (kind "class"); ``label`` names the ingredient or the class in Japanese, ``label_en`` a class in
    English."""

    kind: Literal["ingredient", "class"]
    label: str
    label_en: str | None = None  # a class's name in English; none for an ingredient (a drug's name)
    medication_ids: list[UUID]
    facilities: list[str]

    def label_in(self, lang: str) -> str:
        """The label the reader reads: a class in English for an English reader, otherwise as timeline named it."""
        return self.label_en if lang == "en" and self.label_en else self.label


class MedicationList(Answer):
    subject_id: UUID
    items: list[Medication] = Field(default_factory=list)
    warnings: list[DuplicateWarning] = Field(default_factory=list)


class Drug(Answer):
    """A product of the drug master (薬価基準収載品目): YJ code, brand name, active ingredient."""

    code: str
    name: str
    ingredient: str
    standard: str = ""
    maker: str = ""
    kind: str = ""


class DrugSearch(Answer):
    items: list[Drug] = Field(default_factory=list)


class DrugMasterStatus(Answer):
    count: int
    imported_at: datetime | None = None


# --- a subject's summary (rec1): what the ambulance crew and a new team member must find at a glance ---------


class FamilyDoctor(Answer):
    name: str = ""
    facility: str = ""
    phone: str = ""


class NurseStation(Answer):
    name: str = ""
    phone: str = ""


class EmergencyContact(Answer):
    name: str = ""
    relation: str = ""
    phone: str = ""


class HealthProblem(Answer):
    """A diagnosis or past illness as the team writes it (timeline's ``problems``)."""

    name: str = ""
    since: str = ""
    note: str = ""


class Allergy(Answer):
    substance: str = ""
    reaction: str = ""


class AdvanceCarePlan(Answer):
    """ACP: the person's wishes in their words, and whether they decline resuscitation (DNAR)."""

    wishes: str = ""
    dnar: str | None = None  # yes | no | undecided; None: not said


class SummaryContent(Answer):
    """The summary's content as timeline keeps it. The portal also holds a form's draft in it (a row being
    corrected may lack its name), so nothing here is checked: timeline judges what is saved."""

    family_doctor: FamilyDoctor | None = None
    visiting_nurse_station: NurseStation | None = None
    emergency_contacts: list[EmergencyContact] = Field(default_factory=list)
    problems: list[HealthProblem] = Field(default_factory=list)
    allergies: list[Allergy] = Field(default_factory=list)
    no_known_allergies: bool = False
    care_level: str | None = None  # none | support_1–2 | care_1–5 | applying
    adl: str = ""
    acp: AdvanceCarePlan | None = None
    living_situation: str = ""

    @property
    def empty(self) -> bool:
        return self == SummaryContent()


class Summary(Answer):
    """The subject's summary as it stands: version 0 (content None) until someone writes it."""

    subject_id: UUID
    version: int = 0
    content: SummaryContent | None = None
    author: PersonRef | None = None
    created_at: datetime | None = None
    # Who recorded the ACP part as it stands, and when (the version in which it last changed).
    acp_recorded_by: PersonRef | None = None
    acp_recorded_at: datetime | None = None


class SummaryVersion(Answer):
    version: int
    content: SummaryContent
    author: PersonRef
    created_at: datetime
    content_sha256: str = ""
    signature_valid: bool = False
    acp_recorded_by: PersonRef | None = None
    acp_recorded_at: datetime | None = None


def as_summary(subject_id: UUID, newest: SummaryVersion) -> Summary:
    """The summary as it stands, from the newest of its versions (the page reads the versions alone)."""
    return Summary(
        subject_id=subject_id,
        version=newest.version,
        content=newest.content,
        author=newest.author,
        created_at=newest.created_at,
        acp_recorded_by=newest.acp_recorded_by,
        acp_recorded_at=newest.acp_recorded_at,
    )


class SummaryVersions(Answer):
    items: list[SummaryVersion] = Field(default_factory=list)  # newest first


# --- a subject's hospital letters (rec5): FHIR documents imported, their offers ------------------------------


class LetterOfferCounts(Answer):
    offered: int = 0
    accepted: int = 0
    declined: int = 0


class HospitalLetter(Answer):
    """An imported letter as the list shows it: kind discharge_summary (退院時サマリー) or referral (診療情報提供書)."""

    id: UUID
    subject_id: UUID
    kind: str
    title: str
    author_org: str = ""
    document_date: date | None = None
    post_id: UUID | None = None
    uploaded_by: PersonRef
    created_at: datetime
    offers: LetterOfferCounts = Field(default_factory=LetterOfferCounts)


class LetterSection(Answer):
    title: str = ""
    text: str = ""


class LetterOffer(Answer):
    """A medication, allergy or problem the letter names, offered once: offered, accepted or declined."""

    index: int
    kind: Literal["medication", "allergy", "problem"]
    label: str
    status: Literal["offered", "accepted", "declined"]
    decided_by: PersonRef | None = None
    decided_at: datetime | None = None


class HospitalLetterDetail(HospitalLetter):
    author_name: str = ""
    sections: list[LetterSection] = Field(default_factory=list)
    items: list[LetterOffer] = Field(default_factory=list)


class HospitalLetters(Answer):
    items: list[HospitalLetter] = Field(default_factory=list)  # newest first


class TimelineClient(ServiceClient):
    service = "timeline"

    # --- a conversation's posts ---------------------------------------------------------------------------

    async def page(self, conversation: Conversation, *, limit: int, cursor: str = "") -> PostPage:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return await self.read(PostPage, "GET", f"{conversation.api_path}/posts", params=params)

    async def conversation_page(
        self, conversation: Conversation, *, limit: int, cursor: str = ""
    ) -> ConversationPage:
        """A page of posts and whom a post may mention, in one call (the conversation page shows both)."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return await self.read(
            ConversationPage, "GET", f"{conversation.api_path}/conversation", params=params
        )

    async def mark_read(self, conversation: Conversation, post_ids: list[UUID]) -> ReadMarks:
        """Posts and replies that have been on the reader's screen count as read (既読), up to 100 at once."""
        body = {"post_ids": [str(p) for p in post_ids]}
        return await self.read(ReadMarks, "POST", f"{conversation.api_path}/read-marks", json=body)

    async def mention_candidates(self, conversation: Conversation) -> list[PersonRef]:
        """Whom a post may mention: the care team or the group's members, by name, the reader excepted."""
        path = f"{conversation.api_path}/mention-candidates"
        return (await self.read(MentionCandidates, "GET", path)).items

    async def search(self, conversation: Conversation, q: str) -> list[Post]:
        return await self.read(list[Post], "GET", f"{conversation.api_path}/search", params={"q": q})

    async def post(
        self,
        conversation: Conversation,
        *,
        body: str,
        category: PostCategory,
        mentions: list[str],
        attachment_ids: list[str],
        addressee: str = "",
    ) -> Created:
        payload: dict[str, Any] = {
            "body": body,
            "category": category,
            "mentions": mentions,
            "attachment_ids": attachment_ids,
        }
        if addressee:
            payload["support_request"] = {"addressed_user_id": addressee}
        return await self.read(Created, "POST", f"{conversation.api_path}/posts", json=payload)

    async def upload(self, conversation: Conversation, *, filename: str, content: bytes) -> Created:
        return await self.read(
            Created,
            "POST",
            f"{conversation.api_path}/attachments",
            params={"filename": filename},
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )

    async def relay_upload(
        self, conversation: Conversation, *, filename: str, content: AsyncIterable[bytes], length: str | None
    ) -> httpx.Response:
        """The browser's upload streamed on as it arrives; timeline's answer as it is, for the browser."""
        headers = {"Content-Type": "application/octet-stream"}
        if length:
            headers["Content-Length"] = length
        return await self.send(
            "POST",
            f"{conversation.api_path}/attachments",
            params={"filename": filename},
            content=content,
            headers=headers,
        )

    async def open_attachment(self, attachment_id: UUID, *, thumbnail: bool) -> httpx.Response:
        """The attachment's bytes (or its thumbnail), streamed: the caller closes the answer."""
        return await self.open(f"/attachments/{attachment_id}/{'thumbnail' if thumbnail else 'content'}")

    # --- one post: its thread, replies, versions, support request ----------------------------------------

    async def thread(self, post_id: UUID) -> Thread:
        """Opening a thread marks it read (既読) for the reader."""
        return await self.read(Thread, "GET", f"/posts/{post_id}")

    async def reply(self, post_id: UUID, *, body: str, category: PostCategory, mentions: list[str]) -> None:
        payload = {"body": body, "category": category, "mentions": mentions}
        await self.call("POST", f"/posts/{post_id}/replies", json=payload)

    async def edit(self, post_id: UUID, *, body: str, category: PostCategory | None) -> None:
        payload: dict[str, Any] = {"body": body}
        if category is not None:
            payload["category"] = category
        await self.call("POST", f"/posts/{post_id}/versions", json=payload)

    async def versions(self, post_id: UUID) -> list[PostVersion]:
        return await self.read(list[PostVersion], "GET", f"/posts/{post_id}/versions")

    async def decide_support(self, post_id: UUID, decision: Literal["adopted", "declined"]) -> None:
        path = f"/posts/{post_id}/support-request/decision"
        await self.call("POST", path, json={"decision": decision})

    async def support_requests(self, box: Literal["received", "sent"]) -> list[Post]:
        return await self.read(list[Post], "GET", "/support-requests", params={"box": box})

    async def feed(self) -> Feed:
        return await self.read(Feed, "GET", "/feed")

    # --- a subject's vital signs (rec3) --------------------------------------------------------------------

    async def record_vitals(self, subject_id: UUID, values: dict[str, Any], note: str) -> Vitals:
        """Values (``measured_at`` among them, an ISO datetime with its offset) and the note: timeline writes
        the vital_signs post and the entry in one transaction, or refuses both (422 for a value out of range)."""
        payload = {**values, "note": note}
        return await self.read(Vitals, "POST", f"/subjects/{subject_id}/vitals", json=payload)

    async def vitals(self, subject_id: UUID, days: int) -> VitalsPeriod:
        return await self.read(VitalsPeriod, "GET", f"/subjects/{subject_id}/vitals", params={"days": days})

    # --- a subject's medications (rec2) and the drug master ------------------------------------------------

    async def medications(self, subject_id: UUID) -> MedicationList:
        """The list (active and planned first, then ended) and the duplicate warnings the team sees."""
        return await self.read(MedicationList, "GET", f"/subjects/{subject_id}/medications")

    async def add_medication(self, subject_id: UUID, entry: dict[str, Any]) -> Medication:
        """``entry`` as timeline's MedicationCreate: drug_code (YJ) or name and ingredient, dose, start_date,
        end_date, prescriber, facility (ISO dates). 422 for what timeline refuses (an unknown code among them)."""
        return await self.read(Medication, "POST", f"/subjects/{subject_id}/medications", json=entry)

    async def end_medication(self, subject_id: UUID, medication_id: UUID, end_date: date) -> Medication:
        path = f"/subjects/{subject_id}/medications/{medication_id}/end"
        return await self.read(Medication, "POST", path, json={"end_date": end_date.isoformat()})

    async def remove_medication(self, subject_id: UUID, medication_id: UUID) -> None:
        """Entered in error: hidden from the list, kept for the audit trail."""
        await self.call("DELETE", f"/subjects/{subject_id}/medications/{medication_id}")

    async def search_drugs(self, q: str, limit: int = 20) -> list[Drug]:
        """Products of the network's drug master whose name, ingredient or code holds ``q`` (kana and width
        folded)."""
        answer = await self.read(DrugSearch, "GET", "/drug-master", params={"q": q, "limit": limit})
        return answer.items

    async def drug_master_status(self) -> DrugMasterStatus:
        return await self.read(DrugMasterStatus, "GET", "/drug-master/status")

    async def import_drug_master(self, csv_bytes: bytes) -> DrugMasterStatus:
        """The operator replaces the network's drug master with the CSV (薬価基準収載品目, UTF-8 or Shift_JIS);
        422 drug-master-invalid with ``errors`` [{row, reason}] and nothing replaced when a row is wrong."""
        return await self.read(
            DrugMasterStatus, "PUT", "/drug-master", content=csv_bytes, headers={"content-type": "text/csv"}
        )

    # --- a subject's summary (rec1) ------------------------------------------------------------------------

    async def summary(self, subject_id: UUID) -> Summary:
        return await self.read(Summary, "GET", f"/subjects/{subject_id}/summary")

    async def save_summary(self, subject_id: UUID, expected_version: int, content: SummaryContent) -> Summary:
        """A new version of the summary, written over ``expected_version``: a 409 (summary-changed, with
        ``current_version``) when someone saved another first, a 422 for content timeline refuses."""
        payload = {"expected_version": expected_version, "content": content.model_dump(mode="json")}
        return await self.read(Summary, "PUT", f"/subjects/{subject_id}/summary", json=payload)

    async def summary_versions(self, subject_id: UUID) -> list[SummaryVersion]:
        """Every version, newest first, each with whether its signature still matches what it says."""
        path = f"/subjects/{subject_id}/summary/versions"
        return (await self.read(SummaryVersions, "GET", path)).items

    # --- groups -------------------------------------------------------------------------------------------

    async def groups(self) -> list[Group]:
        return await self.read(list[Group], "GET", "/groups")

    async def group(self, group_id: UUID) -> Group:
        return await self.read(Group, "GET", f"/groups/{group_id}")

    async def create_group(self, *, name: str, purpose: GroupPurpose, description: str) -> Created:
        body = {"name": name, "purpose": purpose, "description": description}
        return await self.read(Created, "POST", "/groups", json=body)

    async def group_members(self, group_id: UUID) -> list[GroupMember]:
        return await self.read(list[GroupMember], "GET", f"/groups/{group_id}/members")

    async def invite_to_group(self, group_id: UUID, user_id: UUID) -> None:
        await self.call("POST", f"/groups/{group_id}/invitations", json={"user_id": str(user_id)})

    async def join_group(self, group_id: UUID) -> None:
        await self.call("POST", f"/groups/{group_id}/invitations/accept")

    async def leave_group(self, group_id: UUID, user_id: UUID) -> None:
        await self.call("DELETE", f"/groups/{group_id}/members/{user_id}")

    # --- a subject's hospital letters (rec5) ---------------------------------------------------------------

    async def hospital_letters(self, subject_id: UUID) -> list[HospitalLetter]:
        return (await self.read(HospitalLetters, "GET", f"/subjects/{subject_id}/imports")).items

    async def hospital_letter(self, subject_id: UUID, import_id: UUID) -> HospitalLetterDetail:
        return await self.read(HospitalLetterDetail, "GET", f"/subjects/{subject_id}/imports/{import_id}")

    async def import_hospital_letter(
        self, subject_id: UUID, bundle: bytes, *, patient_mismatch_confirmed: bool = False
    ) -> HospitalLetterDetail:
        """A FHIR document Bundle as uploaded: 422 bundle-invalid with the validator's reason in ``detail``, 409
        bundle-already-imported, 413 over 5 MB; nothing written on any of them. ``patient_mismatch_confirmed``:
        the uploader confirmed a letter whose patient is not the subject's (timeline's audit entry says so)."""
        return await self.read(
            HospitalLetterDetail,
            "POST",
            f"/subjects/{subject_id}/imports",
            content=bundle,
            headers={"Content-Type": "application/fhir+json"},
            params={"patient_mismatch_confirmed": "true"} if patient_mismatch_confirmed else None,
        )

    async def decide_letter_offer(
        self, subject_id: UUID, import_id: UUID, index: int, *, accept: bool
    ) -> LetterOffer:
        """Accept (onto the medication list, or into the summary) or decline; 409 offer-decided the second time."""
        path = (
            f"/subjects/{subject_id}/imports/{import_id}/offers/{index}/{'accept' if accept else 'decline'}"
        )
        return await self.read(LetterOffer, "POST", path)
