"""A peer user's read of a referred subject's timeline and their post on it, under federation's grant.

The grant says what federation checked (agreement, referral, consent, the peer's assertion). Here timeline checks
what it alone knows: the subject is shared and its support has not stopped (the withdrawal's hold, as for any
write), and it keeps to the grant's data categories. Every read and post is audited with the peer user named.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit
from yui_common.auth import Principal
from yui_common.events.identity import PersonChangedV1
from yui_common.people import apply_person_changed
from yui_common.problems import Problem, not_found

from timeline.access import repository as access_repository
from timeline.access.service import Board, support_stopped
from timeline.federated.grants import Grant
from timeline.integrity.signing import ContentSigner
from timeline.models import Person, Post
from timeline.people import people_of, person_or_unknown
from timeline.posts import repository
from timeline.posts import service as posts

PAGE = 50


async def _shared(session: AsyncSession, grant: Grant, *, hold: bool) -> None:
    access = await access_repository.subject_access(session, subject_id=grant.subject_id, hold=hold)
    if access is None or access.tenant != grant.tenant:
        raise not_found("subject")
    # A withdrawal ends consent and stops support in one write: it is told as such (410, and the peer purges),
    # not as a subject never shared, when timeline hears of it before federation does.
    if access.support_stopped_at is not None:
        raise support_stopped()
    if not access.consent_active:
        raise not_found("subject")


async def _audit(session: AsyncSession, grant: Grant, action: str, **detail: Any) -> None:
    await audit.record(
        session,
        tenant=grant.tenant,
        actor_id=grant.actor,
        action=action,
        subject_id=str(grant.subject_id),
        facility_id=str(grant.facility_id),
        target=f"subject:{grant.subject_id}",
        detail={
            "peer": grant.peer_source,
            "peer_user": grant.peer_user,
            "network": grant.network_name,
            "referral": str(grant.referral_id),
            "name": grant.name,
            "profession": grant.profession,
            "facility": grant.facility_name,
            **detail,
        },
    )


# Who this process has already introduced, as introduced: a peer user's every read would otherwise rewrite the
# same row.
_introduced: dict[UUID, tuple[str, str | None, str, UUID, str]] = {}


async def _introduce(session: AsyncSession, grant: Grant) -> None:
    """The peer user becomes a known person here, named with their network, so the home team reads
    "name (profession, facility（network）)" as an author or reader, never an id."""
    facility_name = f"{grant.facility_name}（{grant.network_name}）"
    seen = (grant.name, grant.name_kana, grant.profession, grant.facility_id, facility_name)
    if _introduced.get(grant.user_id) == seen:
        return
    if len(_introduced) > 10_000:
        _introduced.clear()

    def remember(_: object) -> None:  # only once the row is committed
        _introduced[grant.user_id] = seen

    sa.event.listen(session.sync_session, "after_commit", remember, once=True)
    await apply_person_changed(
        session,
        Person,
        grant.tenant,
        PersonChangedV1(
            user_id=grant.user_id,
            name=grant.name,
            name_kana=grant.name_kana,
            profession=grant.profession,
            facility_id=grant.facility_id,
            facility_name=facility_name,
            status="active",
            version=time.time_ns(),
        ),
    )


def _label(person: Any) -> dict[str, Any]:
    return dict(person.model_dump(mode="json", include={"name", "name_kana", "profession", "facility_name"}))


def _post_json(
    post: Post, people: dict[UUID, Any], readers: dict[UUID, list[UUID]] | None = None, me: UUID | None = None
) -> dict[str, Any]:
    author = person_or_unknown(people, post.author_id)
    return {
        "id": str(post.id),
        "parent_id": str(post.parent_id) if post.parent_id else None,
        "category": post.category,
        "body": post.body,
        "created_at": post.created_at.isoformat(),
        "updated_at": post.updated_at.isoformat() if post.updated_at else None,
        "author": _label(author),
        # Read marks as the home team sees them (既読): who read it, the peer user among them once shown.
        "read_by": [_label(person_or_unknown(people, u)) for u in (readers or {}).get(post.id, [])],
        "read_by_me": (me is not None and me in (readers or {}).get(post.id, [])) or post.author_id == me,
    }


async def read(session: AsyncSession, grant: Grant) -> dict[str, Any]:
    """The subject's newest threads in the grant's categories, each with its replies in those categories."""
    await _shared(session, grant, hold=False)
    visible = (
        Post.tenant == grant.tenant,
        Post.subject_id == grant.subject_id,
        Post.deleted_at.is_(None),
        Post.support_stopped_at.is_(None),
        Post.category.in_(grant.categories),
    )
    roots = list(
        await session.scalars(
            sa.select(Post)
            .where(*visible, Post.parent_id.is_(None))
            .order_by(Post.created_at.desc(), Post.id.desc())
            .limit(PAGE)
        )
    )
    replies = (
        list(
            await session.scalars(
                sa.select(Post)
                .where(*visible, Post.parent_id.in_([r.id for r in roots]))
                .order_by(Post.created_at, Post.id)
            )
        )
        if roots
        else []
    )
    shown = roots + replies
    # What the peer user is shown counts as read by them, as a local reader's screen does (issue 10); the
    # answer carries the read marks as they stand before this reading, like a local page.
    marks = await repository.read_marks_among(session, post_ids=[p.id for p in shown])
    readers: dict[UUID, list[UUID]] = {}
    for post_id, user_id in marks:
        readers.setdefault(post_id, []).append(user_id)
    await _introduce(session, grant)
    await repository.mark_read(
        session, post_ids=[p.id for p in shown if p.author_id != grant.user_id], user_id=grant.user_id
    )
    people = await people_of(
        session, tenant=grant.tenant, user_ids=[p.author_id for p in shown] + [u for _, u in marks]
    )
    by_parent: dict[UUID, list[dict[str, Any]]] = {}
    for reply in replies:
        assert reply.parent_id is not None
        by_parent.setdefault(reply.parent_id, []).append(_post_json(reply, people, readers, grant.user_id))
    await _audit(session, grant, "post.list.federated", count=len(shown))
    return {
        "posts": [
            {**_post_json(root, people, readers, grant.user_id), "replies": by_parent.get(root.id, [])}
            for root in roots
        ],
        "categories": list(grant.categories),
    }


async def write(
    session: AsyncSession,
    grant: Grant,
    signer: ContentSigner,
    *,
    category: str,
    body: str,
    parent_id: UUID | None,
) -> dict[str, Any]:
    """The peer user's post (or reply), which lands here: the home network's terms govern it. The care team is
    told as of any post (the outbox's post-created event)."""
    if category not in grant.categories:
        raise Problem(
            422, "category-not-shared", "Category not shared", "The referral does not share this category."
        )
    # Held as any write into the subject's timeline: the post commits before a withdrawal, or sees it.
    await _shared(session, grant, hold=True)
    parent: Post | None = None
    if parent_id is not None:
        parent = await session.get(Post, parent_id)
        if (
            parent is None
            or parent.subject_id != grant.subject_id
            or parent.parent_id is not None
            or parent.deleted_at is not None
            or parent.category not in grant.categories
        ):
            raise not_found("post")
    await _introduce(session, grant)
    principal = Principal(
        user_id=grant.user_id,
        tenant=grant.tenant,
        facility_id=grant.facility_id,
        roles=frozenset({"federated"}),
        name=grant.name,
    )
    post = await posts.write_post(
        session,
        principal=principal,
        signer=signer,
        board=Board(tenant=grant.tenant, subject_id=grant.subject_id),
        category=category,
        body=body,
        mentions=(),
        attachment_ids=(),
        parent=parent,
    )
    await _audit(
        session,
        grant,
        "post.reply.federated" if parent else "post.create.federated",
        post=str(post.id),
        parent=str(parent.id) if parent else None,
    )
    people = await people_of(session, tenant=grant.tenant, user_ids=[post.author_id])
    return _post_json(post, people)
