"""Referrals (紹介, issue 12 item 4) in the staff UI, both sides of one.

Home: the subject page's 「他地域への紹介」 section (shown only when the subject has referrals or may be referred):
the subject's referrals by peer network and facility name, period, categories and state (after a withdrawal,
whether the peer acknowledged its purge), the form to refer (peer network and facility chosen by name, purpose,
period, the categories the chosen agreement allows, 本人同意 or 代諾), and ending a referral after a confirmation.
Peer: 「他地域から共有」, the subjects other networks shared with the signed-in member, and each one's shared
timeline, read from home at every visit (or from the cache, said so), with a reply form per thread and a new post.

Federation decides everything (care team, consent, agreement, profession, facility, period) and audits it; a
refusal is shown on the form or page in the reader's words, never as a 500. Ids travel only in links and hidden
fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from yui_common.vocabulary import POST_CATEGORIES
from yui_common.web import language_of, today_in_japan, translate

from portal.clients.base import ServiceProblem
from portal.clients.consent import ConsentClient
from portal.clients.federation import (
    DATA_CATEGORIES,
    Referral,
    ReferralClient,
    ReferralOption,
    SharedTimeline,
)
from portal.session import Staff, StaffSession
from portal.staff.pages import ConsentApi, back, gather, labeller, optional, page

router = APIRouter(prefix="/staff")
DEFAULT_DAYS = 30  # a new referral's period: today to 30 days on
CONSENT_BASES = ("consent", "proxy")
# A refusal federation explains, in the reader's words (its English detail is shown beside it).
PROBLEM_MESSAGES = {
    "referral-period-invalid": "referrals_ui.error.period",
    "referral-category-not-agreed": "referrals_ui.error.category",
    "referral-facility-unknown": "referrals_ui.error.facility",
    "consent-required": "referrals_ui.error.consent",
    "federation-peer-unreachable": "referrals_ui.error.unreachable",
    "category-not-shared": "referrals_ui.error.category_not_shared",
    "referral-not-active": "referrals_ui.error.not_active",
    "support-stopped": "referrals_ui.withdrawn",
    "validation-error": "referrals_ui.error.invalid",
}


async def _referrals(request: Request, staff: Staff) -> ReferralClient:
    return ReferralClient(request, staff.token)


ReferralApi = Annotated[ReferralClient, Depends(_referrals)]


def problem_message(lang: str, refusal: ServiceProblem) -> str:
    key = PROBLEM_MESSAGES.get(refusal.slug)
    if key is None:
        status = refusal.status if refusal.status in (403, 404, 409, 410) else "other"
        key = "staff.refused.422" if refusal.status in (400, 422) else f"staff.refused.{status}"
    return translate(lang, key)


def _labels(request: Request) -> dict[str, Any]:
    lang = language_of(request)
    label = labeller(lang)

    def category(code: str) -> str:
        return label("staff.category", code) if code in POST_CATEGORIES else label("agreements.section", code)

    def in_order(codes: list[str]) -> list[str]:
        """Categories as the agreement pages list them (posts first, then the record's sections)."""
        order = {code: index for index, code in enumerate(DATA_CATEGORIES)}
        return sorted(codes, key=lambda code: (order.get(code, len(order)), code))

    return {"category_label": category, "in_order": in_order}


# --- home: the subject page's section, referring, ending -----------------------------------------------------------


@dataclass
class ReferralForm:
    """What the refer form holds: its defaults, or what was typed when federation refused it."""

    choice: str = ""  # "<agreement id>:<facility id>", the facility chosen by name under its network
    purpose: str = ""
    starts_on: str = ""
    ends_on: str = ""
    categories: set[str] = field(default_factory=set)
    consent_basis: str = "consent"
    error: str | None = None
    error_detail: str = ""

    @classmethod
    def default(cls, consent_basis: str = "consent") -> ReferralForm:
        today = today_in_japan()
        return cls(
            starts_on=today.isoformat(),
            ends_on=(today + timedelta(days=DEFAULT_DAYS)).isoformat(),
            consent_basis=consent_basis,
        )

    @property
    def agreement_id(self) -> str:
        return self.choice.partition(":")[0]

    @property
    def facility_id(self) -> str:
        return self.choice.partition(":")[2]


def _chosen(options: list[ReferralOption], form: ReferralForm) -> ReferralOption | None:
    """The agreement the form's facility is under (the first one offered while none is chosen)."""
    for option in options:
        if str(option.agreement_id) == form.agreement_id:
            return option
    return next((o for o in options if o.facilities), None)


def _basis(consents: list[Any]) -> str:
    """The consent the subject's active one is: 代諾 when a proxy gave it."""
    active = next((c for c in consents if getattr(c, "status", "") == "active"), None)
    return "proxy" if active is not None and getattr(active, "given_by", "") == "proxy" else "consent"


async def referral_section(
    request: Request,
    referrals: ReferralClient,
    subject_id: UUID,
    consents: list[Any],
    form: ReferralForm | None = None,
) -> dict[str, Any]:
    """The subject page's 「他地域への紹介」: nothing to show (and the section hidden) unless the subject has referrals
    or may be referred; federation answers 404 to anyone not on the care team, and the page goes on without it."""
    options, made = await gather(
        optional(referrals.options(subject_id), []), optional(referrals.of_subject(subject_id), [])
    )
    form = form or ReferralForm.default(_basis(consents))
    return {
        "referral_options": options,
        "subject_referrals": made,
        "referral_form": form,
        "referral_chosen": _chosen(options, form),
        **_labels(request),
    }


@router.get("/subjects/{subject_id}/referrals/categories", response_class=HTMLResponse)
async def referral_categories(
    request: Request, subject_id: UUID, staff: Staff, referrals: ReferralApi, choice: str = ""
) -> Response:
    """The categories the chosen facility's agreement allows (htmx swaps them in when the facility changes)."""
    form = ReferralForm(choice=choice[:100])
    options = await optional(referrals.options(subject_id), [])
    context = {"referral_form": form, "referral_chosen": _chosen(options, form), **_labels(request)}
    return page(request, staff, "staff/referral_categories.html", context)


@router.post("/subjects/{subject_id}/referrals", response_class=HTMLResponse)
async def refer(
    request: Request,
    subject_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    referrals: ReferralApi,
    choice: Annotated[str, Form(max_length=100)] = "",
    purpose: Annotated[str, Form(max_length=2000)] = "",
    starts_on: Annotated[str, Form(max_length=10)] = "",
    ends_on: Annotated[str, Form(max_length=10)] = "",
    categories: Annotated[list[str] | None, Form(max_length=40)] = None,
    consent_basis: Annotated[str, Form(max_length=10)] = "consent",
) -> Response:
    form = ReferralForm(
        choice=choice.strip(),
        purpose=purpose.strip(),
        starts_on=starts_on.strip(),
        ends_on=ends_on.strip(),
        categories={c for c in categories or [] if c},
        consent_basis=consent_basis if consent_basis in CONSENT_BASES else "consent",
    )
    try:
        await referrals.refer(
            {
                "subject_id": str(subject_id),
                "agreement_id": form.agreement_id,
                "facility_id": form.facility_id,
                "purpose": form.purpose,
                "starts_on": form.starts_on,
                "ends_on": form.ends_on,
                "categories": sorted(form.categories),
                "consent_basis": form.consent_basis,
            }
        )
    except ServiceProblem as refusal:
        if refusal.session_ended:
            raise
        return await _refer_again(request, staff, consent, referrals, subject_id, form, refusal)
    return back(request, f"/subjects/{subject_id}#referrals-h", done="referred")


async def _refer_again(
    request: Request,
    staff: StaffSession,
    consent: ConsentClient,
    referrals: ReferralClient,
    subject_id: UUID,
    form: ReferralForm,
    refusal: ServiceProblem,
) -> Response:
    """The form again, as typed, with what federation said (a page of its own: the subject page's other parts
    are one link away)."""
    subject = await consent.subject(subject_id)
    form.error = problem_message(language_of(request), refusal)
    form.error_detail = refusal.detail
    section = await referral_section(request, referrals, subject_id, [], form)
    status = refusal.status if 400 <= refusal.status < 600 else 422
    context = {"subject": subject, **section}
    return page(request, staff, "staff/referral_new.html", context, status_code=status)


async def _referral_of(referrals: ReferralClient, subject_id: UUID, referral_id: UUID) -> Referral:
    for referral in await referrals.of_subject(subject_id):
        if referral.id == referral_id:
            return referral
    raise ServiceProblem(404, "urn:yui:problem:not-found", "Not found")


@router.get("/subjects/{subject_id}/referrals/{referral_id}/end", response_class=HTMLResponse)
async def end_confirmation(
    request: Request,
    subject_id: UUID,
    referral_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    referrals: ReferralApi,
) -> Response:
    subject = await consent.subject(subject_id)
    referral = await _referral_of(referrals, subject_id, referral_id)
    context = {"subject": subject, "referral": referral, **_labels(request)}
    return page(request, staff, "staff/referral_end.html", context)


@router.post("/subjects/{subject_id}/referrals/{referral_id}/end", response_class=HTMLResponse)
async def end_referral(
    request: Request,
    subject_id: UUID,
    referral_id: UUID,
    staff: Staff,
    consent: ConsentApi,
    referrals: ReferralApi,
) -> Response:
    try:
        await referrals.end(referral_id)
    except ServiceProblem as refusal:
        if refusal.session_ended or refusal.status == 404:
            raise
        subject = await consent.subject(subject_id)
        referral = await _referral_of(referrals, subject_id, referral_id)
        context = {
            "subject": subject,
            "referral": referral,
            "error": problem_message(language_of(request), refusal),
            **_labels(request),
        }
        return page(request, staff, "staff/referral_end.html", context, status_code=refusal.status)
    return back(request, f"/subjects/{subject_id}#referrals-h", done="referral_ended")


# --- peer: subjects shared with me, a shared timeline ---------------------------------------------------------------


@router.get("/shared", response_class=HTMLResponse)
async def shared_with_me(request: Request, staff: Staff, referrals: ReferralApi) -> Response:
    shared = await referrals.shared_with_me()
    return page(request, staff, "staff/shared.html", {"shared": shared, **_labels(request)})


@dataclass
class PostForm:
    """The form federation refused (a thread's reply, or the new post: ``parent_id`` empty), as typed."""

    parent_id: str = ""
    category: str = ""
    body: str = ""
    error: str = ""
    error_detail: str = ""


async def _shared_page(
    request: Request,
    staff: StaffSession,
    referrals: ReferralClient,
    referral_id: UUID,
    refused: PostForm | None = None,
    status_code: int = 200,
) -> Response:
    try:
        timeline: SharedTimeline = await referrals.timeline(referral_id)
    except ServiceProblem as refusal:
        if refusal.session_ended or refusal.status not in (410, 503):
            raise
        # 410: consent was withdrawn at home and the peer purged it; 503: home unreachable, nothing cached.
        context = {"ended": refusal.status == 410, "unreachable": refusal.status == 503, **_labels(request)}
        return page(request, staff, "staff/shared_timeline.html", context, status_code=refusal.status)
    context = {
        "timeline": timeline,
        "referral": timeline.referral,
        # What this member may post: the categories shared with them that are post categories.
        "post_categories": [c for c in timeline.categories if c in POST_CATEGORIES],
        "refused": refused,
        **_labels(request),
    }
    return page(request, staff, "staff/shared_timeline.html", context, status_code=status_code)


@router.get("/shared/{referral_id}", response_class=HTMLResponse)
async def shared_timeline(
    request: Request, referral_id: UUID, staff: Staff, referrals: ReferralApi
) -> Response:
    return await _shared_page(request, staff, referrals, referral_id)


@router.post("/shared/{referral_id}/posts", response_class=HTMLResponse)
async def shared_post(
    request: Request,
    referral_id: UUID,
    staff: Staff,
    referrals: ReferralApi,
    body: Annotated[str, Form(max_length=20000)] = "",
    category: Annotated[str, Form(max_length=40)] = "",
    parent_id: Annotated[str, Form(max_length=36)] = "",
) -> Response:
    """A post or a reply: it lands at the subject's home network (its terms govern)."""
    written = PostForm(parent_id=parent_id.strip(), category=category.strip(), body=body)
    post: dict[str, Any] = {"category": written.category, "body": body.strip()}
    if written.parent_id:
        post["parent_id"] = written.parent_id
    try:
        created = await referrals.post(referral_id, post)
    except ServiceProblem as refusal:
        if refusal.session_ended or refusal.status == 404:
            raise
        if refusal.status == 410:  # withdrawn at home meanwhile: the page says sharing ended
            return await _shared_page(request, staff, referrals, referral_id)
        written.error = problem_message(language_of(request), refusal)
        written.error_detail = refusal.detail
        return await _shared_page(request, staff, referrals, referral_id, written, refusal.status)
    anchor = f"post-{written.parent_id or created.id}"
    return back(request, f"/shared/{referral_id}#{anchor}", done="shared_posted")
