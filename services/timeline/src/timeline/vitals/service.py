"""Recording vitals (a post that says them and the entry that holds them, in one transaction) and reading a
subject's series. Authorized and audited as posts are; never commits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.auth import Principal
from yui_common.problems import Problem

from timeline.access.service import Board, board_for, record_audit
from timeline.integrity.signing import ContentSigner
from timeline.models import Vitals
from timeline.people import people_of, person_or_unknown
from timeline.posts import service as posts
from timeline.vitals import repository
from timeline.vitals.schemas import MEASURES, VitalsCreate, VitalsRead, VitalsSeries

JAPAN = ZoneInfo("Asia/Tokyo")
CATEGORY = "vital_signs"
OLDEST = timedelta(days=30)  # an entry typed in late, from a paper record, but not an old chart copied in
CLOCK_SKEW = timedelta(minutes=5)

# How the post says each measure: label, unit, format. Japanese, as the team reads its timeline.
_WORDS = {
    "pulse": ("脈拍", "回/分", "{:d}"),
    "spo2": ("SpO₂", "%", "{:d}"),
    "temperature": ("体温", "℃", "{:.1f}"),
    "respiration": ("呼吸", "回/分", "{:d}"),
    "weight": ("体重", "kg", "{:.1f}"),
    "glucose": ("血糖", "mg/dL", "{:d}"),
}


def vitals_line(data: VitalsCreate, measured_at: datetime, recorded_at: datetime) -> str:
    """「【バイタル】血圧 132/78 mmHg・脈拍 72 回/分・SpO₂ 97%」, with the time measured when it is not now."""
    parts = []
    if data.systolic is not None and data.diastolic is not None:
        parts.append(f"血圧 {data.systolic}/{data.diastolic} mmHg")
    for measure, (label, unit, form) in _WORDS.items():
        value = getattr(data, measure)
        if value is not None:
            parts.append(f"{label} {form.format(value)}{'' if unit == '%' else ' '}{unit}")
    line = "【バイタル】" + "・".join(parts)
    if recorded_at - measured_at > CLOCK_SKEW:
        line += f"（測定 {measured_at.astimezone(JAPAN):%Y-%m-%d %H:%M}）"
    return line


def _when(data: VitalsCreate, now: datetime) -> datetime:
    measured_at = data.measured_at or now
    if measured_at > now + CLOCK_SKEW:
        raise Problem(
            422,
            "vitals-in-the-future",
            "Measured in the future",
            "測定日時が未来です。 / The time measured is ahead of now.",
        )
    if measured_at < now - OLDEST:
        raise Problem(
            422,
            "vitals-too-old",
            "Measured too long ago",
            "30 日より前の測定は記録できません。 / Measures older than 30 days are not recorded.",
        )
    return measured_at


async def record(
    session: AsyncSession, *, principal: Principal, signer: ContentSigner, board: Board, data: VitalsCreate
) -> VitalsRead:
    """The post (its signed first version says the measures in words; notifications and the feed see it as
    any post) and the entry, in the caller's transaction. ``posts.create_post`` checks the care team and the
    consent and holds the subject's access row, so a withdrawal either sees this entry or refuses it (C4)."""
    board = await board_for(session, principal, board, write=True, hold=True)
    if all(getattr(data, m) is None for m in MEASURES):
        raise Problem(
            422,
            "vitals-none",
            "No measure given",
            "測定値を 1 つ以上入力してください。 / Give at least one measure.",
        )
    now = datetime.now(UTC)
    measured_at = _when(data, now)
    line = vitals_line(data, measured_at, now)
    body = f"{data.note.strip()}\n{line}" if data.note.strip() else line
    post = await posts.create_post(
        session, principal=principal, signer=signer, board=board, category=CATEGORY, body=body
    )
    entry = Vitals(
        post_id=post.id,
        tenant=principal.tenant,
        subject_id=board.subject_id,
        recorded_by=principal.user_id,
        measured_at=measured_at,
        **{m: getattr(data, m) for m in MEASURES},
    )
    entry.created_at = post.created_at
    session.add(entry)
    await session.flush()
    await record_audit(session, principal, "vitals.create", board, post=post.id)
    people = await people_of(session, tenant=principal.tenant, user_ids=[principal.user_id])
    return _read(entry, person_or_unknown(people, principal.user_id))


def _read(entry: Vitals, author: object) -> VitalsRead:
    return VitalsRead.model_validate(
        {
            "post_id": entry.post_id,
            "subject_id": entry.subject_id,
            "measured_at": entry.measured_at,
            "recorded_at": entry.created_at,
            "author": author,
            **{m: getattr(entry, m) for m in MEASURES},
        }
    )


async def series(session: AsyncSession, *, principal: Principal, board: Board, days: int) -> VitalsSeries:
    """The subject's entries of the last ``days`` days, oldest first; an entry whose post was deleted is gone
    from the chart as the post is from the timeline. The caller has reached the board (read)."""
    since = datetime.now(UTC) - timedelta(days=days)
    assert board.subject_id is not None
    rows = await repository.shown_vitals(
        session, tenant=principal.tenant, subject_id=board.subject_id, since=since
    )
    people = await people_of(session, tenant=principal.tenant, user_ids={r.recorded_by for r in rows})
    await record_audit(session, principal, "vitals.list", board, days=days, count=len(rows))
    return VitalsSeries(
        subject_id=board.subject_id,  # type: ignore[arg-type]
        days=days,
        since=since,
        items=[_read(r, person_or_unknown(people, r.recorded_by)) for r in rows],
    )
