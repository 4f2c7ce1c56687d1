"""Telling the other services who a subject is now (consent.subject-changed.v1): on registration, a change of
name or kana, support stopping and support resuming. Never the subject's contact details."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from yui_common import outbox
from yui_common.events.consent import SubjectChangedV1

from consent.models import Subject
from consent.subjects import repository

ACTIVE = "active"
SUPPORT_STOPPED = "support_stopped"


async def announce_subject_changed(session: AsyncSession, subject: Subject, *, first: bool = False) -> None:
    """Bump the subject's version (unless it is the first announcement) and put the event in the outbox, in the
    caller's transaction."""
    if not first:
        # One UPDATE that takes the row lock: two changes at once get two versions, in commit order.
        await session.flush()
        bumped = await session.execute(
            update(Subject)
            .where(Subject.id == subject.id)
            .values(version=Subject.version + 1)
            .returning(Subject.version)
            .execution_options(synchronize_session=False)
        )
        set_committed_value(subject, "version", bumped.scalar_one())
    await outbox.add_event(
        session,
        SubjectChangedV1(
            subject_id=subject.id,
            name=subject.name,
            name_kana=subject.name_kana,
            status=subject.status,
            version=subject.version,
        ),
        tenant=subject.tenant,
        subject=str(subject.id),
    )


async def set_subject_status(session: AsyncSession, subject: Subject, status: str) -> None:
    """Support stopped (consent withdrawn) or resumed (consent given again); announced only when it changes."""
    if subject.status != status:
        subject.status = status
        await announce_subject_changed(session, subject)


async def republish_subjects(session: AsyncSession, *, tenant: str | None = None) -> int:
    """Announce every subject again with a new version (a backfill for the projections of notify and the other
    services, for a deployment that had subjects before issue 10); how many, in the caller's transaction."""
    subjects = await repository.subjects_for_republishing(session, tenant=tenant)
    for subject in subjects:
        await announce_subject_changed(session, subject)
    return len(subjects)
