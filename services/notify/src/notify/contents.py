"""What a notification says when it is read: the patient and the author by name (from notify's projections,
so a rename shows at once), the excerpt while the reader may still see it, and the inbox grouped per patient."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit
from yui_common.people import PersonRef, people_by_id, person_or_unknown

from notify import repository
from notify.models import Person, Subject
from notify.schemas import NotificationGroup, NotificationRead, SubjectRef

# Timeline sends the body's first 80 characters; anything longer than this is cut, never stored whole.
EXCERPT_MAX = 200
SUPPORT_STOPPED = "support_stopped"


@dataclass(frozen=True)
class PostContent:
    """What an event said about a post: its ids, who wrote (or acted), and the body's first characters."""

    post_id: UUID | None = None
    parent_id: UUID | None = None
    author_id: UUID | None = None
    excerpt: str | None = None

    def columns(self) -> dict[str, object]:
        excerpt = " ".join(self.excerpt.split())[:EXCERPT_MAX] if self.excerpt else None
        return {
            "post_id": self.post_id,
            "parent_id": self.parent_id,
            "author_id": self.author_id,
            "excerpt": excerpt or None,
        }


def _subject_ref(subject_id: UUID, subject: Subject | None) -> SubjectRef:
    if subject is None:
        return SubjectRef(id=subject_id, name=None)
    return SubjectRef(id=subject_id, name=subject.name, name_kana=subject.name_kana, status=subject.status)


async def describe(session: AsyncSession, notifications: Sequence[Any]) -> list[NotificationRead]:
    """The notifications (models, or rows with their columns and ``tenant``) as the inbox and the live stream
    answer with them: two queries for the whole batch, whatever its size.

    Only notifications their reader may hear of reach here (``repository.may_hear``); the excerpt is withheld
    besides when the subject's support has stopped, in case the blanking has not reached an older row yet."""
    subjects = await repository.subjects_by_id(
        session, subject_ids=[n.subject_id for n in notifications if n.subject_id is not None]
    )
    authors_by_tenant: defaultdict[str, set[UUID]] = defaultdict(set)
    for n in notifications:
        if n.author_id is not None:
            authors_by_tenant[n.tenant].add(n.author_id)
    people: dict[UUID, PersonRef] = {}
    for tenant, author_ids in authors_by_tenant.items():
        people.update(await people_by_id(session, Person, tenant, author_ids))
    described = []
    for n in notifications:
        subject = subjects.get(n.subject_id) if n.subject_id is not None else None
        if subject is not None and subject.tenant != n.tenant:
            subject = None
        stopped = subject is not None and subject.status == SUPPORT_STOPPED
        described.append(
            NotificationRead(
                id=n.id,
                kind=n.kind,
                subject_id=n.subject_id,
                subject=_subject_ref(n.subject_id, subject) if n.subject_id is not None else None,
                post_id=n.post_id,
                parent_id=n.parent_id,
                author_id=n.author_id,
                author=person_or_unknown(people, n.author_id) if n.author_id is not None else None,
                excerpt=None if stopped else n.excerpt,
                params=n.params,
                created_at=n.created_at,
                read_at=n.read_at,
            )
        )
    return described


def group_by_subject(items: Sequence[NotificationRead]) -> list[NotificationGroup]:
    """One group per patient (and one for what is about no patient), the group with the newest notification
    first; ``items`` come newest first, and so does each group."""
    groups: dict[UUID | None, list[NotificationRead]] = {}
    for item in items:
        groups.setdefault(item.subject_id, []).append(item)
    # Dicts keep the order groups were first met in, so the group of the newest notification comes first.
    return [
        NotificationGroup(
            subject=members[0].subject,
            newest_at=members[0].created_at,
            unread=sum(1 for m in members if m.read_at is None),
            items=members,
        )
        for members in groups.values()
    ]


async def record_shown(
    session: AsyncSession, reader: audit.Actor, items: Sequence[NotificationRead], *, via: str
) -> None:
    """An audit entry per patient whose name or post excerpts the reader was shown (in the inbox or live), in
    the transaction that read them."""
    shown: dict[UUID, list[str]] = {}
    for item in items:
        if item.subject_id is not None:
            shown.setdefault(item.subject_id, []).append(str(item.id))
    for subject_id, notification_ids in shown.items():
        await audit.record_by(
            session,
            reader,
            action="notifications.read",
            subject_id=subject_id,
            detail={"via": via, "notifications": notification_ids},
        )
