"""Reading and writing the patient summary: a new signed version on each save (optimistic: the editor names
the version it started from), every version kept; authorized like the subject's posts and audited. Never
commits."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal
from yui_common.problems import Problem

from timeline.access.service import Board, board_for, record_audit
from timeline.integrity.signing import ContentSigner, canonical_sha256
from timeline.models import SummaryVersion
from timeline.people import PersonRef, people_of, person_or_unknown
from timeline.summary import repository
from timeline.summary.schemas import SummaryContent, SummaryRead, SummaryVersionRead


def signed_content(subject_id: UUID, version: int, content: dict[str, object]) -> dict[str, object]:
    """What a version's hash covers: the content with the subject and the version number it was saved as."""
    return {"subject_id": str(subject_id), "version": version, "content": content}


def _person(people: dict[UUID, PersonRef], user_id: UUID | None) -> PersonRef | None:
    return person_or_unknown(people, user_id) if user_id is not None else None


async def _people(session: AsyncSession, tenant: str, rows: list[SummaryVersion]) -> dict[UUID, PersonRef]:
    ids = {r.author_id for r in rows} | {r.acp_recorded_by for r in rows if r.acp_recorded_by is not None}
    return await people_of(session, tenant=tenant, user_ids=ids)


def _read(subject_id: UUID, row: SummaryVersion | None, people: dict[UUID, PersonRef]) -> SummaryRead:
    if row is None:
        return SummaryRead(
            subject_id=subject_id,
            version=0,
            content=None,
            author=None,
            created_at=None,
            acp_recorded_by=None,
            acp_recorded_at=None,
        )
    return SummaryRead(
        subject_id=subject_id,
        version=row.version,
        content=SummaryContent.model_validate(row.content),
        author=_person(people, row.author_id),
        created_at=row.created_at,
        acp_recorded_by=_person(people, row.acp_recorded_by),
        acp_recorded_at=row.acp_recorded_at,
    )


async def current(session: AsyncSession, *, principal: Principal, board: Board) -> SummaryRead:
    board = await board_for(session, principal, board)
    assert board.subject_id is not None
    row = await repository.newest(session, board.subject_id)
    await record_audit(session, principal, "summary.read", board, version=row.version if row else 0)
    return _read(board.subject_id, row, await _people(session, principal.tenant, [row] if row else []))


async def save(
    session: AsyncSession,
    *,
    principal: Principal,
    signer: ContentSigner,
    board: Board,
    expected_version: int,
    content: SummaryContent,
) -> SummaryRead:
    """A new version on top of ``expected_version``; 409 when someone saved another since. The subject's access
    row is held (as a post's write holds it), so a withdrawal either sees this version or refuses it (C4)."""
    board = await board_for(session, principal, board, write=True, hold=True)
    assert board.subject_id is not None
    latest = await repository.newest(session, board.subject_id)
    now_version = latest.version if latest else 0
    if expected_version != now_version:
        raise Problem(
            409,
            "summary-changed",
            "Summary changed",
            "他の方が先に基本情報を更新しました。最新の内容を確認してから保存してください。 / "
            "Someone saved the summary first; read the newest version, then save.",
            current_version=now_version,
        )
    at = datetime.now(UTC)
    stored = content.model_dump(mode="json")
    acp_changed = latest is None or latest.content.get("acp") != stored.get("acp")
    if acp_changed:
        acp_by, acp_at = (principal.user_id, at) if stored.get("acp") else (None, None)
    else:
        assert latest is not None
        acp_by, acp_at = latest.acp_recorded_by, latest.acp_recorded_at
    number = now_version + 1
    digest = canonical_sha256(signed_content(board.subject_id, number, stored))
    row = SummaryVersion(
        tenant=principal.tenant,
        subject_id=board.subject_id,
        version=number,
        content=stored,
        content_sha256=digest,
        signature=signer.sign(digest, principal.user_id, at),
        author_id=principal.user_id,
        acp_recorded_by=acp_by,
        acp_recorded_at=acp_at,
        created_at=at,
    )
    session.add(row)
    try:
        await session.flush()
    except sa.exc.IntegrityError as clash:  # two saves of the same version at once: the second one loses
        raise Problem(
            409,
            "summary-changed",
            "Summary changed",
            "他の方が同時に基本情報を更新しました。 / Someone saved the summary at the same moment.",
            current_version=number,
        ) from clash
    await record_audit(session, principal, "summary.update", board, version=number)
    return _read(board.subject_id, row, await _people(session, principal.tenant, [row]))


async def versions(
    session: AsyncSession, *, principal: Principal, signer: ContentSigner, board: Board
) -> list[SummaryVersionRead]:
    """Every version, newest first, each with whether its hash and signature still hold."""
    board = await board_for(session, principal, board)
    assert board.subject_id is not None
    rows = await repository.versions(session, board.subject_id)
    people = await _people(session, principal.tenant, rows)
    await record_audit(session, principal, "summary.versions", board, versions=len(rows))
    return [
        SummaryVersionRead(
            version=r.version,
            content=SummaryContent.model_validate(r.content),
            author=person_or_unknown(people, r.author_id),
            created_at=r.created_at,
            content_sha256=r.content_sha256,
            signature_valid=(
                canonical_sha256(signed_content(r.subject_id, r.version, r.content)) == r.content_sha256
                and signer.verify(r.signature, r.content_sha256, r.author_id, r.created_at)
            ),
            acp_recorded_by=_person(people, r.acp_recorded_by),
            acp_recorded_at=r.acp_recorded_at,
        )
        for r in rows
    ]
