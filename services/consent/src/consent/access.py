"""Who may reach a subject (its care team, or an approved exceptional grant) and the audit entry each reach leaves."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit
from yui_common.auth import Principal
from yui_common.problems import not_found

from consent.exceptional_access import repository as grant_repository
from consent.models import Subject
from consent.subjects import repository as subject_repository


async def audit_subject(
    session: AsyncSession, principal: Principal, action: str, subject_id: UUID, **detail: object
) -> None:
    await audit.record_by(session, principal, action=action, subject_id=subject_id, detail=dict(detail))


async def visible_subject(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, exceptional_read: bool = False
) -> Subject:
    """The subject if the caller is on its care team (C6); else 404, never 403.

    ``exceptional_read``: a read may also go through an approved, unexpired exceptional grant (C5); each such
    use is audited with the grant it relied on.
    """
    subject = await subject_repository.subject_visible_to(
        session, tenant=principal.tenant, subject_id=subject_id, user_id=principal.user_id
    )
    if subject is not None:
        return subject
    if exceptional_read:
        grant = await grant_repository.active_grant(
            session,
            tenant=principal.tenant,
            subject_id=subject_id,
            user_id=principal.user_id,
            now=datetime.now(UTC),
        )
        if grant is not None:
            subject = await subject_repository.subject_in_network(
                session, tenant=principal.tenant, subject_id=subject_id
            )
            if subject is not None:
                await audit_subject(
                    session, principal, "exceptional_access.use", subject.id, grant=str(grant.id)
                )
                return subject
    raise not_found("subject")
