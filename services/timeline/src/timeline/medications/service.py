"""A subject's medication list (rec2): adding what a facility prescribed (from the drug master or typed in), ending
it, removing a mistaken entry, and reading the list with the duplicate warnings the whole team sees. Authorized
like posts (the care team, the consent, withdrawal) and audited; never commits.

Adding posts a signed line of category ``medication`` on the timeline, so the team is notified as for any post
and the timeline keeps, in words, what was added and whether it raised a warning."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal
from yui_common.problems import Problem, not_found
from yui_common.web import DISPLAY_TIMEZONE

from timeline.access.service import Board, board_for, record_audit
from timeline.integrity.signing import ContentSigner
from timeline.medications import master, repository
from timeline.medications.matching import CLASSES, facility_key, ingredient_key
from timeline.medications.schemas import (
    DuplicateWarning,
    MedicationCreate,
    MedicationList,
    MedicationRead,
    MedicationState,
)
from timeline.models import Medication
from timeline.people import PersonRef, people_of, person_or_unknown
from timeline.posts import service as posts

CATEGORY = "medication"


def today() -> date:
    """Dates on the list are the team's calendar days: Japan's."""
    return datetime.now(DISPLAY_TIMEZONE).date()


def state_of(row: Medication, on: date) -> MedicationState:
    if row.end_date is not None and row.end_date < on:
        return "ended"
    return "planned" if row.start_date > on else "active"


def warnings(rows: list[Medication], on: date) -> list[DuplicateWarning]:
    """Duplicates among the medications not ended: one ingredient listed by two or more facilities, then two
    or more ingredients of one known duplicate class listed by two or more facilities. One facility listing an
    ingredient twice (a morning and an evening dose) is its own prescription, not a duplicate."""
    current = [r for r in rows if state_of(r, on) != "ended"]
    found: list[DuplicateWarning] = []
    by_ingredient: dict[str, list[Medication]] = defaultdict(list)
    for row in current:
        by_ingredient[row.ingredient_key].append(row)
    for group in by_ingredient.values():
        if len({r.facility_key for r in group}) > 1:
            found.append(_warning("ingredient", group[0].ingredient, group))
    for duplicate_class in CLASSES:
        group = [r for r in current if duplicate_class.holds(r.ingredient_key)]
        if len({r.ingredient_key for r in group}) > 1 and len({r.facility_key for r in group}) > 1:
            found.append(_warning("class", duplicate_class.label, group))
    return found


def _warning(kind: str, label: str, group: list[Medication]) -> DuplicateWarning:
    facilities = list(dict.fromkeys(r.facility for r in group))
    return DuplicateWarning(
        kind=kind,  # type: ignore[arg-type]
        label=label,
        medication_ids=[r.id for r in group],
        facilities=facilities,
    )


def _read(row: Medication, people: dict[UUID, PersonRef], on: date) -> MedicationRead:
    return MedicationRead(
        id=row.id,
        subject_id=row.subject_id,
        drug_code=row.drug_code,
        name=row.name,
        ingredient=row.ingredient,
        dose=row.dose,
        start_date=row.start_date,
        end_date=row.end_date,
        prescriber=row.prescriber,
        facility=row.facility,
        state=state_of(row, on),
        source=row.source,  # type: ignore[arg-type]
        recorded_by=person_or_unknown(people, row.recorded_by),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _order(row: Medication, on: date) -> tuple[int, date]:
    return (1 if state_of(row, on) == "ended" else 0, row.start_date)


async def listing(session: AsyncSession, *, principal: Principal, board: Board) -> MedicationList:
    board = await board_for(session, principal, board)
    assert board.subject_id is not None
    rows = await repository.listed(session, board.subject_id)
    on = today()
    people = await people_of(session, tenant=principal.tenant, user_ids={r.recorded_by for r in rows})
    found = warnings(rows, on)
    await record_audit(session, principal, "medication.list", board, count=len(rows), warnings=len(found))
    return MedicationList(
        subject_id=board.subject_id,
        items=[_read(r, people, on) for r in sorted(rows, key=lambda r: _order(r, on))],
        warnings=found,
    )


def _medication_line(row: Medication, found: list[DuplicateWarning]) -> str:
    period = (
        f"{row.start_date:%Y-%m-%d}〜{row.end_date:%Y-%m-%d}"
        if row.end_date
        else f"{row.start_date:%Y-%m-%d}〜"
    )
    who = "・".join(p for p in (row.facility, row.prescriber) if p)
    line = f"【お薬】{row.name}（{row.ingredient}）{row.dose} {period} 処方: {who}"
    mine = [w for w in found if row.id in w.medication_ids]
    for warning in mine:
        line += f"\n⚠ 重複投薬の可能性: {warning.label}（{'、'.join(warning.facilities)}）"
    return line


async def add(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    board: Board,
    data: MedicationCreate,
    source: str = "manual",
    import_id: UUID | None = None,
    import_index: int | None = None,
) -> MedicationRead:
    """A medication on the list and the post that tells the team, in the caller's transaction. The subject's
    access row is held (as for a post), so a withdrawal either sees this entry or refuses it (C4)."""
    board = await board_for(session, principal, board, write=True, hold=True)
    assert board.subject_id is not None
    kind = ""
    if data.drug_code is not None:
        product = await master.product(session, tenant=principal.tenant, code=data.drug_code)
        if product is None:
            raise Problem(
                422,
                "drug-unknown",
                "Not in the drug master",
                "医薬品マスターにないコードです。 / The code is not in the network's drug master.",
            )
        name, ingredient, kind = data.name or product.name, product.ingredient, product.kind
    elif data.name is None or data.ingredient is None:
        raise Problem(
            422,
            "medication-unnamed",
            "Name and ingredient needed",
            "医薬品マスターから選ぶか、薬品名と成分名を入力してください。 / "
            "Choose from the drug master, or type the name and the ingredient.",
        )
    else:
        name, ingredient = data.name, data.ingredient
    if data.end_date is not None and data.end_date < data.start_date:
        raise Problem(
            422,
            "medication-period",
            "End before start",
            "終了日が開始日より前です。 / The end date is before the start date.",
        )
    if import_id is not None:
        taken = await session.scalar(
            sa.select(Medication.id).where(
                Medication.import_id == import_id, Medication.import_index == import_index
            )
        )
        if taken is not None:
            raise Problem(
                409,
                "medication-already-imported",
                "Already on the list",
                "この薬は取り込み済みです。 / This medication was already taken onto the list.",
            )
    at = datetime.now(UTC)
    row = Medication(
        tenant=principal.tenant,
        subject_id=board.subject_id,
        drug_code=data.drug_code,
        name=name,
        ingredient=ingredient,
        ingredient_key=ingredient_key(ingredient, kind),
        dose=data.dose,
        start_date=data.start_date,
        end_date=data.end_date,
        prescriber=data.prescriber,
        facility=data.facility,
        facility_key=facility_key(data.facility),
        status="active",
        source=source,
        import_id=import_id,
        import_index=import_index,
        recorded_by=principal.user_id,
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    await session.flush()
    on = today()
    found = warnings(await repository.listed(session, board.subject_id), on)
    post = await posts.create_post(
        session,
        principal=principal,
        signer=signer,
        board=board,
        category=CATEGORY,
        body=_medication_line(row, found),
    )
    row.post_id = post.id
    await session.flush()
    await record_audit(
        session, principal, "medication.create", board, medication=str(row.id), post=post.id, source=source
    )
    people = await people_of(session, tenant=principal.tenant, user_ids=[principal.user_id])
    return _read(row, people, on)


async def _found(
    session: AsyncSession, principal: Principal, board: Board, medication_id: UUID
) -> tuple[Board, Medication]:
    board = await board_for(session, principal, board, write=True, hold=True)
    assert board.subject_id is not None
    row = await repository.one(session, board.subject_id, medication_id)
    if row is None:
        raise not_found("medication")
    return board, row


async def end(
    session: AsyncSession, *, principal: Principal, board: Board, medication_id: UUID, end_date: date
) -> MedicationRead:
    """The medication stops on ``end_date`` (not before it started)."""
    board, row = await _found(session, principal, board, medication_id)
    if end_date < row.start_date:
        raise Problem(
            422,
            "medication-period",
            "End before start",
            "終了日が開始日より前です。 / The end date is before the start date.",
        )
    before = row.end_date
    row.end_date = end_date
    row.updated_at = datetime.now(UTC)
    await session.flush()
    await record_audit(
        session,
        principal,
        "medication.end",
        board,
        medication=str(row.id),
        end_date=end_date.isoformat(),
        previous_end_date=before.isoformat() if before else None,
    )
    people = await people_of(session, tenant=principal.tenant, user_ids=[row.recorded_by])
    return _read(row, people, today())


async def remove(session: AsyncSession, *, principal: Principal, board: Board, medication_id: UUID) -> None:
    """Entered in error: gone from the list and the check, kept (with who removed it in the audit log)."""
    board, row = await _found(session, principal, board, medication_id)
    row.status = "entered_in_error"
    row.updated_at = datetime.now(UTC)
    await session.flush()
    await record_audit(session, principal, "medication.remove", board, medication=str(row.id), name=row.name)
