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
from yui_common.web import today_in_japan as today

from timeline.access.service import Board, board_for, record_audit
from timeline.integrity.signing import ContentSigner
from timeline.medications import master, repository
from timeline.medications.matching import CLASSES, components, facility_key, ingredient_key, route_of
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


def state_of(row: Medication, on: date) -> MedicationState:
    if row.end_date is not None and row.end_date < on:
        return "ended"
    return "planned" if row.start_date > on else "active"


def warnings(rows: list[Medication], on: date) -> list[DuplicateWarning]:
    """Duplicates among the medications not ended: one ingredient (alone or within a combination product)
    listed by two or more facilities on one route, then two or more ingredients of one known duplicate class
    listed by two or more facilities. One facility listing an ingredient twice (a morning and an evening dose)
    is its own prescription, not a duplicate."""
    current = [r for r in rows if state_of(r, on) != "ended"]
    found: list[DuplicateWarning] = []
    by_ingredient: dict[tuple[str, str], list[Medication]] = defaultdict(list)
    for row in current:
        for base in sorted(components(row.ingredient)):
            by_ingredient[(base, route_of(row.ingredient_key))].append(row)
    for (base, _), group in by_ingredient.items():
        if len({r.facility_key for r in group}) > 1:
            found.append(_warning("ingredient", _named(base, group), None, group))
    for duplicate_class in CLASSES:
        members: dict[str, list[Medication]] = defaultdict(list)
        for row in current:
            for base in duplicate_class.members_in(components(row.ingredient), route_of(row.ingredient_key)):
                members[base].append(row)
        group = list({r.id: r for rows_ in members.values() for r in rows_}.values())
        if len(members) > 1 and len({r.facility_key for r in group}) > 1:
            found.append(_warning("class", duplicate_class.label, duplicate_class.label_en, group))
    return found


def _named(base: str, group: list[Medication]) -> str:
    """An ingredient as the list writes it (「アムロジピンベシル酸塩」) when one of the products holds it alone,
    else its base name (from a combination product)."""
    alone = [r.ingredient for r in group if components(r.ingredient) == {base}]
    return alone[0] if alone else base


def _warning(kind: str, label: str, label_en: str | None, group: list[Medication]) -> DuplicateWarning:
    facilities = list(dict.fromkeys(r.facility for r in group))
    return DuplicateWarning(
        kind=kind,  # type: ignore[arg-type]
        label=label,
        label_en=label_en,
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


async def _named_product(session: AsyncSession, tenant: str, data: MedicationCreate) -> tuple[str, str, str]:
    """Name, ingredient and route of what is added. A code of the master gives them; a code the master lacks
    (another revision of the list, a hospital's letter) takes the ingredient and route of a product whose
    code starts with the same seven characters (the YJ code's class and ingredient), and the name given; a
    typed-in medication needs its name and ingredient."""
    if data.drug_code is not None:
        product = await master.product(session, tenant=tenant, code=data.drug_code)
        if product is not None:
            return data.name or product.name, product.ingredient, product.kind
        sibling = await master.same_ingredient(session, tenant=tenant, code=data.drug_code)
        if sibling is not None and data.name is not None:
            return data.name, sibling.ingredient, sibling.kind
        if data.name is None or data.ingredient is None:
            raise Problem(
                422,
                "drug-unknown",
                "Not in the drug master",
                "医薬品マスターにないコードです。 / The code is not in the network's drug master.",
            )
        return data.name, data.ingredient, ""
    if data.name is None or data.ingredient is None:
        raise Problem(
            422,
            "medication-unnamed",
            "Name and ingredient needed",
            "医薬品マスターから選ぶか、薬品名と成分名を入力してください。 / "
            "Choose from the drug master, or type the name and the ingredient.",
        )
    return data.name, data.ingredient, ""


def _period_refused() -> Problem:
    return Problem(
        422,
        "medication-period",
        "End before start",
        "終了日が開始日より前です。 / The end date is before the start date.",
    )


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
    name, ingredient, kind = await _named_product(session, principal.tenant, data)
    if data.end_date is not None and data.end_date < data.start_date:
        raise _period_refused()
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


async def _tell(
    session: AsyncSession, principal: Principal, signer: ContentSigner, board: Board, line: str
) -> UUID:
    """A change to the list said on the timeline, as the addition was: the team is notified and the signed
    record keeps it in words."""
    post = await posts.create_post(
        session, principal=principal, signer=signer, board=board, category=CATEGORY, body=line
    )
    return post.id


async def end(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    board: Board,
    medication_id: UUID,
    end_date: date,
) -> MedicationRead:
    """The medication stops on ``end_date`` (not before it started): the last day it is taken, so it counts
    as current (and in the duplicate check) through that day."""
    board, row = await _found(session, principal, board, medication_id)
    if end_date < row.start_date:
        raise _period_refused()
    before = row.end_date
    row.end_date = end_date
    row.updated_at = datetime.now(UTC)
    await session.flush()
    post_id = await _tell(
        session, principal, signer, board, f"【お薬】{row.name}（{row.facility}）{end_date:%Y-%m-%d} で終了"
    )
    await record_audit(
        session,
        principal,
        "medication.end",
        board,
        post=post_id,
        medication=str(row.id),
        end_date=end_date.isoformat(),
        previous_end_date=before.isoformat() if before else None,
    )
    people = await people_of(session, tenant=principal.tenant, user_ids=[row.recorded_by])
    return _read(row, people, today())


async def remove(
    session: AsyncSession, *, principal: Principal, signer: ContentSigner, board: Board, medication_id: UUID
) -> None:
    """Entered in error: gone from the list and the check, kept (with who removed it in the audit log), and
    the timeline says so beside the post that added it."""
    board, row = await _found(session, principal, board, medication_id)
    row.status = "entered_in_error"
    row.updated_at = datetime.now(UTC)
    await session.flush()
    post_id = await _tell(
        session,
        principal,
        signer,
        board,
        f"【お薬】{row.name}（{row.facility}）の登録を誤登録として取り消しました",
    )
    await record_audit(
        session, principal, "medication.remove", board, post=post_id, medication=str(row.id), name=row.name
    )
