"""Removing posts with their objects: the withdrawal's bulk stop or deletion, the operator's erasure (T3) and
the retention job. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.auth import Principal
from yui_common.events.consent import ConsentWithdrawnV1
from yui_common.events.timeline import TimelineSupportStoppedV1
from yui_common.problems import Problem
from yui_common.storage import ObjectStore

from timeline import network_rules, objects
from timeline.access import repository as access_repository
from timeline.access.service import Board, is_operator, record_audit
from timeline.models import HospitalImport, Medication, SummaryVersion
from timeline.retention import repository
from timeline.settings import Settings


async def erase_with_objects(
    session: AsyncSession, store: ObjectStore | None, post_ids: Sequence[UUID]
) -> tuple[int, int, dict[str, int]]:
    keys, per_board = await repository.erase_posts(session, post_ids=post_ids)
    # Objects go first: if the transaction then fails, the event or job runs again and finds them gone
    # (removing a missing object is no error), so a replay is harmless and nothing is left behind.
    removed = await objects.remove_objects(store, keys) if store is not None and keys else 0
    return len(post_ids), removed, per_board


async def stop_support(
    session: AsyncSession, *, tenant: str, withdrawal: ConsentWithdrawnV1, store: ObjectStore | None = None
) -> int:
    """Stop (or delete) everything timeline holds about the subject, and report back in the same commit."""
    # The moment the subject was refused (refuse_subject), not when this bulk step runs.
    now = await access_repository.stop_access(
        session, tenant=tenant, subject_id=withdrawal.subject_id, at=datetime.now(UTC)
    )
    objects_removed = summary_versions = record_rows = 0
    if withdrawal.mode == "delete":
        post_ids = await repository.posts_to_erase(session, tenant=tenant, subject_id=withdrawal.subject_id)
        affected, objects_removed, _ = await erase_with_objects(session, store, post_ids)
        # The summary's versions go with the posts (their vitals go by the posts' foreign key).
        deleted = await session.execute(
            sa.delete(SummaryVersion).where(SummaryVersion.subject_id == withdrawal.subject_id)
        )
        summary_versions = int(deleted.rowcount or 0)  # type: ignore[attr-defined]
        # So do the medication list and the imported letters (their offers by foreign key).
        for table in (Medication, HospitalImport):
            gone = await session.execute(sa.delete(table).where(table.subject_id == withdrawal.subject_id))
            record_rows += int(gone.rowcount or 0)  # type: ignore[attr-defined]
        stray = await repository.erase_unattached_uploads(session, subject_id=withdrawal.subject_id)
        if store is not None and stray:
            objects_removed += await objects.remove_objects(store, stray)
    else:
        affected = await repository.stop_posts(session, subject_id=withdrawal.subject_id, at=now)
    await audit.record(
        session,
        tenant=tenant,
        actor_id="system:timeline",
        subject_id=str(withdrawal.subject_id),
        action="subject.support_stopped" if withdrawal.mode != "delete" else "subject.deleted",
        detail={
            "withdrawal": str(withdrawal.withdrawal_id),
            "posts": affected,
            "objects": objects_removed,
            "summary_versions": summary_versions,
            "medications_and_letters": record_rows,
        },
    )
    await outbox.add_event(
        session,
        TimelineSupportStoppedV1(
            subject_id=withdrawal.subject_id,
            withdrawal_id=withdrawal.withdrawal_id,
            items_affected=affected,
            completed_at=datetime.now(UTC),
        ),
        tenant=tenant,
        subject=str(withdrawal.subject_id),
    )
    return affected


async def erase_by_operator(
    session: AsyncSession,
    *,
    principal: Principal,
    store: ObjectStore,
    subject_id: UUID | None,
    group_id: UUID | None,
    posted_from: datetime | None,
    posted_before: datetime | None,
) -> tuple[int, int]:
    if not is_operator(principal):
        raise Problem(403, "operator-only", "Operator only", "Only the network's operator erases posts.")
    post_ids = await repository.posts_to_erase(
        session,
        tenant=principal.tenant,
        subject_id=subject_id,
        group_id=group_id,
        posted_from=posted_from,
        posted_before=posted_before,
    )
    removed, objects_removed, per_board = await erase_with_objects(session, store, post_ids)
    if subject_id is not None and group_id is None and posted_from is None and posted_before is None:
        # A subject's whole record goes: its medication list and imported letters with its posts.
        record_rows = await _erase_record(session, principal.tenant, Medication.subject_id == subject_id)
        record_rows += await _erase_record(
            session, principal.tenant, HospitalImport.subject_id == subject_id, table=HospitalImport
        )
        if record_rows:
            await record_audit(
                session,
                principal,
                "record.erase",
                Board(principal.tenant, subject_id=subject_id),
                rows=record_rows,
            )
    for board_key, count in per_board.items():
        kind, _, ident = board_key.partition(":")
        board = Board(principal.tenant, **{f"{kind}_id": UUID(ident)})  # type: ignore[arg-type]
        await record_audit(
            session,
            principal,
            "post.erase",
            board,
            posts=count,
            posted_from=posted_from.isoformat() if posted_from else None,
            posted_before=posted_before.isoformat() if posted_before else None,
        )
    if not per_board:
        await record_audit(session, principal, "post.erase", None, posts=0)
    return removed, objects_removed


async def _erase_record(
    session: AsyncSession,
    tenant: str,
    where: Any,
    *,
    table: type[Medication] | type[HospitalImport] = Medication,
) -> int:
    gone = await session.execute(sa.delete(table).where(table.tenant == tenant, where))
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]


async def _retire_record(session: AsyncSession, tenant: str, cutoff: datetime) -> int:
    """Retention (T3) of the care record beside the posts: medications that ended (or were entered in error)
    and were last changed before the cutoff, and letters imported before it (their offers with them). A
    medication still taken stays, however long ago it started: it is the list as it stands."""
    count = await _erase_record(
        session,
        tenant,
        sa.and_(
            Medication.updated_at < cutoff,
            sa.or_(Medication.end_date.is_not(None), Medication.status != "active"),
            sa.or_(Medication.end_date.is_(None), Medication.end_date < cutoff.date()),
        ),
    )
    count += await _erase_record(session, tenant, HospitalImport.created_at < cutoff, table=HospitalImport)
    if count:
        await audit.record(
            session,
            tenant=tenant,
            actor_id="system:timeline-retention",
            action="record.retention_erase",
            detail={"rows": count, "before": cutoff.isoformat()},
        )
    return count


async def apply_retention(
    session: AsyncSession,
    *,
    settings: Settings,
    store: ObjectStore | None,
    now: datetime | None = None,
    batch: int = 500,
) -> int:
    """Remove one batch of posts older than their network's retention (from the day of posting), with their
    objects, and audit it per subject or group. Returns how many were removed (call again while > 0)."""
    now = now or datetime.now(UTC)
    # Each network's own retention (T3) as identity announced it, else the settings' (network_rules).
    policies = await network_rules.all_policies(session, settings)
    shortest = min(
        [p.retention_years for p in policies.values()] + [settings.default_network_policy.retention_years]
    )
    removed = 0
    for tenant in await repository.tenants_with_posts_before(session, before=_years_before(now, shortest)):
        cutoff = _years_before(now, policies.get(tenant, settings.default_network_policy).retention_years)
        post_ids = await repository.posts_to_erase(session, tenant=tenant, posted_before=cutoff, limit=batch)
        count, objects_removed, per_board = await erase_with_objects(session, store, post_ids)
        removed += count
        if count < batch:  # the posts are done for now: the record's rows past the same cutoff follow
            await _retire_record(session, tenant, cutoff)
        for board_key, posts in per_board.items():
            kind, _, ident = board_key.partition(":")
            await audit.record(
                session,
                tenant=tenant,
                actor_id="system:timeline-retention",
                subject_id=ident if kind == "subject" else None,
                target=board_key,
                action="post.retention_erase",
                detail={"posts": posts, "posted_before": cutoff.isoformat(), "objects": objects_removed},
            )
    stray = await repository.erase_unattached_uploads(session, older_than=now - timedelta(days=1))
    if store is not None and stray:
        await objects.remove_objects(store, stray)
    return removed


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)
