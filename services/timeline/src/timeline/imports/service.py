"""Hospital letters imported as FHIR document Bundles (issue 16 rec5): the import (validated, kept as received,
shown on the timeline as a readable letter, its medications, allergies and problems offered), the letters'
list and one letter, and each offer's decision (accepted onto the medication list or into the summary, or
declined), once. Authorized like posts (the care team, the consent, a withdrawal) and audited; never commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal
from yui_common.problems import Problem, not_found
from yui_common.web import today_in_japan

from timeline.access.service import Board, board_for, record_audit
from timeline.imports import fhir, repository
from timeline.imports.fhir import BundleInvalid, FoundOffer, Letter
from timeline.imports.schemas import (
    ImportList,
    ImportRead,
    ImportSummary,
    OfferCounts,
    OfferRead,
    SectionRead,
)
from timeline.integrity.signing import ContentSigner, canonical_sha256
from timeline.medications import service as medications
from timeline.medications.schemas import MedicationCreate
from timeline.models import HospitalImport, ImportOffer
from timeline.people import PersonRef, people_of, person_or_unknown
from timeline.posts import service as posts
from timeline.summary import repository as summary_repository
from timeline.summary import service as summary
from timeline.summary.schemas import Allergy, SummaryContent
from timeline.summary.schemas import Problem as SummaryProblem

# A letter from the hospital tells what was done there and what follows: treatment (処置), not a test result.
CATEGORY = "treatment"
POST_LIMIT = 20000  # a post's body (timeline.posts.schemas.PostCreate)
KIND_WORDS = {"discharge_summary": "退院時サマリー", "referral": "診療情報提供書"}
OFFER_WORDS = {"medication": "お薬", "allergy": "アレルギー", "problem": "病名"}


def _refused(reason: str) -> Problem:
    return Problem(
        422,
        "bundle-invalid",
        "Not a letter Yui can import",
        reason,
        reason=reason,
    )


def _offer_fits(found: FoundOffer, letter: Letter) -> bool:
    """Whether accepting the offer could add it as it stands (the list's and the summary's own rules): an item
    they would refuse is not offered, and the letter's text still shows it."""
    try:
        if found.kind == "medication":
            _medication(found.data, letter_date=letter.document_date)
        elif found.kind == "allergy":
            Allergy.model_validate(found.data)
        else:
            SummaryProblem.model_validate(found.data)
    except pydantic.ValidationError:
        return False
    return True


def _medication(data: dict[str, Any], *, letter_date: Any = None) -> MedicationCreate:
    values = {k: v for k, v in data.items() if v is not None}
    values.setdefault("start_date", (letter_date or today_in_japan()).isoformat())
    return MedicationCreate.model_validate(values)


def letter_text(letter: Letter, offers: list[FoundOffer]) -> str:
    """The letter as the timeline's post says it: what, from whom, when, each section, and what it offers."""
    head = [f"【{KIND_WORDS[letter.kind]}】{letter.title}"]
    if letter.author_org:
        head.append(f"医療機関: {letter.author_org}")
    if letter.document_date:
        head.append(f"作成日: {letter.document_date:%Y-%m-%d}")
    if letter.author_name:
        head.append(f"作成者: {letter.author_name}")
    parts = ["\n".join(head)]
    for section in letter.sections:
        parts.append("\n".join(p for p in (f"■ {section.title}" if section.title else "", section.text) if p))
    if offers:
        lines = ["■ 取り込み候補（「病院からの文書」の画面で 1 件ずつ取り込めます）"]
        lines += [f"・{OFFER_WORDS[o.kind]}: {o.label}" for o in offers]
        parts.append("\n".join(lines))
    text = "\n\n".join(parts)
    if len(text) > POST_LIMIT:
        tail = "\n…（続きは「病院からの文書」の画面で）"
        text = text[: POST_LIMIT - len(tail)] + tail
    return text


async def import_letter(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    board: Board,
    document: Any,
    patient_mismatch_confirmed: bool = False,
) -> ImportRead:
    """Validate the Bundle and, when it is a letter Yui takes, keep it as received with its post and offers, in
    the caller's transaction; 422 bundle-invalid (the validator's reason) or 409 bundle-already-imported with
    nothing written. The subject's access row is held as for a post (C4)."""
    board = await board_for(session, principal, board, write=True, hold=True)
    assert board.subject_id is not None
    try:
        letter = fhir.read_letter(document)
    except BundleInvalid as refused:
        raise _refused(refused.reason) from None
    digest = canonical_sha256(document)
    if await repository.imported(session, subject_id=board.subject_id, bundle_sha256=digest) is not None:
        raise _already_imported()
    offers = [o for o in letter.offers if _offer_fits(o, letter)]
    at = datetime.now(UTC)
    row = HospitalImport(
        tenant=principal.tenant,
        subject_id=board.subject_id,
        kind=letter.kind,
        title=letter.title,
        author_org=letter.author_org,
        document_date=letter.document_date,
        bundle=document,
        bundle_sha256=digest,
        uploaded_by=principal.user_id,
        created_at=at,
    )
    session.add(row)
    try:
        await session.flush()
    except sa.exc.IntegrityError as clash:  # the same Bundle imported at the same moment: the second loses
        raise _already_imported() from clash
    post = await posts.create_post(
        session,
        principal=principal,
        signer=signer,
        board=board,
        category=CATEGORY,
        body=letter_text(letter, offers),
    )
    row.post_id = post.id
    stored = [
        ImportOffer(import_id=row.id, index=n, kind=o.kind, label=o.label, data=o.data, status="offered")
        for n, o in enumerate(offers)
    ]
    session.add_all(stored)
    await session.flush()
    await record_audit(
        session,
        principal,
        "import.create",
        board,
        import_id=str(row.id),
        post=post.id,
        offers=len(offers),
        patient_mismatch_confirmed=patient_mismatch_confirmed,
    )
    people = await people_of(session, tenant=principal.tenant, user_ids=[principal.user_id])
    return _letter(row, stored, people, letter)


def _already_imported() -> Problem:
    return Problem(
        409,
        "bundle-already-imported",
        "Already imported",
        "この文書はすでに取り込まれています。 / This letter was already imported for this subject.",
    )


def _counts(by_status: dict[str, int]) -> OfferCounts:
    return OfferCounts.model_validate(by_status)


def _offer(offer: ImportOffer, people: dict[UUID, PersonRef]) -> OfferRead:
    return OfferRead(
        index=offer.index,
        kind=offer.kind,  # type: ignore[arg-type]
        label=offer.label,
        data=offer.data,
        status=offer.status,  # type: ignore[arg-type]
        decided_by=person_or_unknown(people, offer.decided_by) if offer.decided_by else None,
        decided_at=offer.decided_at,
    )


def _summary(row: HospitalImport, counts: dict[str, int], people: dict[UUID, PersonRef]) -> ImportSummary:
    return ImportSummary(
        id=row.id,
        subject_id=row.subject_id,
        kind=row.kind,  # type: ignore[arg-type]
        title=row.title,
        author_org=row.author_org,
        document_date=row.document_date,
        post_id=row.post_id,
        uploaded_by=person_or_unknown(people, row.uploaded_by),
        created_at=row.created_at,
        offers=_counts(counts),
    )


def _letter(
    row: HospitalImport,
    offers: list[ImportOffer],
    people: dict[UUID, PersonRef],
    letter: Letter | None = None,
) -> ImportRead:
    # The Bundle was validated when it came: read again for its words, not judged again.
    letter = letter or fhir.read_letter(row.bundle, validated=True)
    counts: dict[str, int] = {}
    for offer in offers:
        counts[offer.status] = counts.get(offer.status, 0) + 1
    return ImportRead(
        **_summary(row, counts, people).model_dump(),
        author_name=letter.author_name,
        sections=[SectionRead(title=s.title, text=s.text) for s in letter.sections],
        items=[_offer(o, people) for o in offers],
    )


async def listing(session: AsyncSession, *, principal: Principal, board: Board) -> ImportList:
    """The subject's letters, newest first, each with its offers counted by status."""
    board = await board_for(session, principal, board)
    assert board.subject_id is not None
    rows = await repository.imports_of(session, tenant=principal.tenant, subject_id=board.subject_id)
    counts = await repository.offer_counts(session, [r.id for r in rows])
    people = await people_of(session, tenant=principal.tenant, user_ids={r.uploaded_by for r in rows})
    await record_audit(session, principal, "import.list", board, count=len(rows))
    return ImportList(
        subject_id=board.subject_id, items=[_summary(r, counts.get(r.id, {}), people) for r in rows]
    )


async def one(session: AsyncSession, *, principal: Principal, board: Board, import_id: UUID) -> ImportRead:
    """One letter: its sections as text and its offers with who decided each and when."""
    board = await board_for(session, principal, board)
    assert board.subject_id is not None
    row = await repository.import_by_id(
        session, tenant=principal.tenant, subject_id=board.subject_id, import_id=import_id
    )
    if row is None:
        raise not_found("import")
    offers = await repository.offers_of(session, row.id)
    people = await people_of(
        session, tenant=principal.tenant, user_ids={row.uploaded_by, *(o.decided_by for o in offers)}
    )
    await record_audit(session, principal, "import.read", board, import_id=str(row.id))
    return _letter(row, offers, people)


async def decide(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    board: Board,
    import_id: UUID,
    index: int,
    accept: bool,
) -> OfferRead:
    """Accept (onto the medication list, or into the summary as a new version) or decline one offer, once:
    409 offer-decided for a second decision, whoever makes it."""
    board = await board_for(session, principal, board, write=True, hold=True)
    assert board.subject_id is not None
    row = await repository.import_by_id(
        session, tenant=principal.tenant, subject_id=board.subject_id, import_id=import_id
    )
    offer = await repository.offer_for_decision(session, import_id=import_id, index=index) if row else None
    if row is None or offer is None:
        raise not_found("offer")
    if offer.status != "offered":
        raise Problem(
            409,
            "offer-decided",
            "Already decided",
            "この項目はすでに判断済みです。 / This item was already accepted or declined.",
            status_now=offer.status,
        )
    added: dict[str, object] = {}
    if accept:
        added = await _accept(session, principal=principal, signer=signer, board=board, row=row, offer=offer)
    offer.status = "accepted" if accept else "declined"
    offer.decided_by = principal.user_id
    offer.decided_at = datetime.now(UTC)
    await session.flush()
    await record_audit(
        session,
        principal,
        "import.accept" if accept else "import.decline",
        board,
        import_id=str(row.id),
        index=index,
        kind=offer.kind,
        **added,
    )
    people = await people_of(session, tenant=principal.tenant, user_ids=[principal.user_id])
    return _offer(offer, people)


async def _accept(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    board: Board,
    row: HospitalImport,
    offer: ImportOffer,
) -> dict[str, object]:
    """What accepting adds; its audit detail (the medication, or the summary version written)."""
    if offer.kind == "medication":
        # A YJ code this network's master lacks still names the ingredient through its siblings, and the
        # letter always gives the name and ingredient (medications.service._named_product): no retry here.
        data = _medication(offer.data, letter_date=row.document_date)
        added = await medications.add(
            session,
            principal=principal,
            signer=signer,
            board=board,
            data=data,
            source="import",
            import_id=row.id,
            import_index=offer.index,
        )
        return {"medication": str(added.id)}
    assert board.subject_id is not None
    latest = await summary_repository.newest(session, board.subject_id)
    content = SummaryContent.model_validate(latest.content) if latest else SummaryContent()
    stored = content.model_dump(mode="json")
    if offer.kind == "allergy":
        item = Allergy.model_validate(offer.data)
        if any(fhir.same_words(a.substance, item.substance) for a in content.allergies):
            return {"summary_version": latest.version if latest else 0, "already_there": True}
        # The hospital names an allergy: "none known" no longer holds.
        stored["no_known_allergies"] = False
        stored["allergies"].append(item.model_dump(mode="json"))
    else:
        problem = SummaryProblem.model_validate(offer.data)
        if any(fhir.same_words(p.name, problem.name) for p in content.problems):
            return {"summary_version": latest.version if latest else 0, "already_there": True}
        stored["problems"].append(problem.model_dump(mode="json"))
    try:
        grown = SummaryContent.model_validate(stored)
    except pydantic.ValidationError:
        raise Problem(
            409,
            "summary-full",
            "The summary's list is full",
            "基本情報の一覧が上限に達しています。整理してから取り込んでください。 / "
            "The summary's list is at its limit; tidy it, then accept again.",
        ) from None
    saved = await summary.save(
        session,
        principal=principal,
        signer=signer,
        board=board,
        expected_version=latest.version if latest else 0,
        content=grown,
    )
    return {"summary_version": saved.version}
