"""Use cases of notices, terms of use and portal settings: domain rules and audit. Never commits."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit, outbox
from yui_common.events.portal import NoticePublishedV1
from yui_common.problems import Problem, conflict, not_found

from portal.models import Notice, PortalSettings, TermsAcceptance, TermsVersion
from portal.notices import repository
from portal.notices.schemas import BANNER_KINDS, NoticeCreate, PortalSettingsUpdate, TermsCreate
from portal.operations.gate_cache import announce_change

OPERATOR, CONTRACTOR = "operator", "contractor"


class Actor(audit.Actor, Protocol):
    """Who acts: a bearer-token principal (JSON API) or a staff session (pages) - both have these."""

    def has_role(self, role: str) -> bool: ...


def now() -> datetime:
    return datetime.now(UTC)


def require_operator(actor: Actor) -> None:
    if not actor.has_role(OPERATOR):
        raise Problem(403, "forbidden", "Forbidden", "Only the network's operator may do this.")


async def _audit(
    session: AsyncSession, actor: Actor, *, action: str, target: str, detail: dict[str, object]
) -> None:
    await audit.record_by(session, actor, action=action, target=target, detail=detail)


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- portal settings (P4 notice period, P5 hours and contact) -----------------------------------------------


async def settings_of(session: AsyncSession, tenant: str) -> PortalSettings:
    """The network's settings; a network nobody configured yet has the defaults (3 months; 9-17 weekdays)."""
    found = await repository.portal_settings(session, tenant=tenant)
    if found is not None:
        return found
    return PortalSettings(
        tenant=tenant,
        notice_period_months=3,
        operator_name="",
        operator_phone="",
        operator_email="",
        support_weekdays=[0, 1, 2, 3, 4],
        support_opens="09:00",
        support_closes="17:00",
        support_closed_periods=["12-29..01-03"],
        support_holidays=[],
    )


async def update_settings(
    session: AsyncSession, *, actor: Actor, changes: PortalSettingsUpdate
) -> PortalSettings:
    require_operator(actor)
    current = await repository.portal_settings(session, tenant=actor.tenant, lock=True)
    if current is None:
        current = await settings_of(session, actor.tenant)
        session.add(current)
    updates = changes.model_dump(exclude_unset=True, exclude_none=True)
    if "support_holidays" in updates:
        updates["support_holidays"] = sorted({d.isoformat() for d in updates["support_holidays"]})
    if "support_weekdays" in updates:
        updates["support_weekdays"] = sorted(set(updates["support_weekdays"]))
    opens = updates.get("support_opens", current.support_opens)
    closes = updates.get("support_closes", current.support_closes)
    if opens >= closes:
        raise Problem(
            422, "validation-error", "The request is not valid", "Support hours must open before they close."
        )
    for name, value in updates.items():
        setattr(current, name, value)
    current.updated_at = now()
    await session.flush()
    await _audit(
        session,
        actor,
        action="portal.settings-changed",
        target=f"network:{actor.tenant}",
        detail={"fields": ",".join(sorted(updates))},
    )
    return current


# --- notices (P2, P3, P4) -----------------------------------------------------------------------------------


async def post_notice(session: AsyncSession, *, actor: Actor, notice: NoticeCreate) -> Notice:
    require_operator(actor)
    moment = now()
    if notice.kind in ("maintenance", "emergency_stop") and (
        notice.starts_at is None or notice.ends_at is None or notice.ends_at <= notice.starts_at
    ):
        raise Problem(
            422,
            "validation-error",
            "The request is not valid",
            "A maintenance or stop is announced with its start and an end after it.",
        )
    if notice.kind == "discontinuation":
        if notice.starts_at is None:
            raise Problem(
                422,
                "validation-error",
                "The request is not valid",
                "A discontinuation is announced with its date.",
            )
        months = (await settings_of(session, actor.tenant)).notice_period_months
        earliest = add_months(moment, months)
        if notice.starts_at < earliest:
            raise Problem(
                422,
                "notice-period-too-short",
                "Announced too late",
                f"This network announces a discontinuation at least {months} months ahead.",
                notice_period_months=months,
                earliest_date=earliest.isoformat(),
            )
        # Everyone must learn of the end of the service, signed in or not.
        notice = notice.model_copy(update={"audience": "public"})
    row = Notice(
        tenant=actor.tenant,
        audience=notice.audience,
        kind=notice.kind,
        title=notice.title,
        body=notice.body,
        starts_at=notice.starts_at,
        ends_at=notice.ends_at,
        published_at=moment,
        created_by=str(actor.user_id),
    )
    await _publish(session, row, announce=True)
    await _audit(
        session,
        actor,
        action="notice.posted",
        target=f"notice:{row.id}",
        detail={"kind": row.kind, "audience": row.audience},
    )
    return row


async def _publish(session: AsyncSession, row: Notice, *, announce: bool) -> None:
    """Every notice is stored here; an announced one also reaches the network's users in the app (notify,
    through portal.notice-published.v1, in the same commit)."""
    session.add(row)
    await session.flush()
    await announce_change(session, "notices")
    if announce:
        await outbox.add_event(
            session,
            NoticePublishedV1(
                notice_id=row.id,
                kind=row.kind,
                audience=row.audience,
                title=row.title,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
            ),
            tenant=row.tenant,
        )


async def post_system_notice(
    session: AsyncSession,
    *,
    tenant: str,
    kind: str,
    title: str,
    body: str,
    actor_id: str,
    announce: bool = True,
) -> Notice:
    """A notice the portal posts itself (a terms change, the maintenance switch's report), public so everyone
    sees it. ``announce=False`` where another event already tells users (the maintenance switch's own)."""
    row = Notice(
        tenant=tenant,
        audience="public",
        kind=kind,
        title=title,
        body=body,
        published_at=now(),
        created_by=actor_id,
    )
    await _publish(session, row, announce=announce)
    return row


async def delete_notice(session: AsyncSession, *, actor: Actor, notice_id: UUID) -> None:
    """The operator may delete any notice at any time (To23); the row stays for the audit trail."""
    require_operator(actor)
    row = await repository.notice(session, tenant=actor.tenant, notice_id=notice_id, lock=True)
    if row is None or row.deleted_at is not None:
        raise not_found("notice")
    row.deleted_at = now()
    row.deleted_by = str(actor.user_id)
    await announce_change(session, "notices")
    await _audit(
        session, actor, action="notice.deleted", target=f"notice:{row.id}", detail={"kind": row.kind}
    )


def audiences_for(viewer: Actor | None, tenant: str) -> tuple[str, ...]:
    """Users-only notices reach the signed-in staff of that network only (P2)."""
    return ("public", "users") if viewer is not None and viewer.tenant == tenant else ("public",)


async def visible_notices(session: AsyncSession, *, tenant: str, viewer: Actor | None) -> Sequence[Notice]:
    return await repository.live_notices(session, tenant=tenant, audiences=audiences_for(viewer, tenant))


async def visible_notice(
    session: AsyncSession, *, tenant: str, viewer: Actor | None, notice_id: UUID
) -> Notice:
    row = await repository.notice(session, tenant=tenant, notice_id=notice_id)
    if row is None or row.deleted_at is not None or row.audience not in audiences_for(viewer, tenant):
        raise not_found("notice")
    return row


async def banners(session: AsyncSession, *, tenant: str, viewer: Actor | None) -> Sequence[Notice]:
    return await repository.banner_notices(
        session, tenant=tenant, audiences=audiences_for(viewer, tenant), kinds=BANNER_KINDS, now=now()
    )


@dataclass(frozen=True)
class Banner:
    """A stop, maintenance or discontinuation notice as the banner over every page shows it."""

    id: UUID
    kind: str
    title: str
    starts_at: datetime | None
    ends_at: datetime | None

    def shown_at(self, moment: datetime) -> bool:
        """The banner query's time conditions: once false they stay false, so a list read earlier and
        filtered now is what the query would answer now (until a notice is posted or deleted)."""
        ended = self.ends_at is not None and self.ends_at <= moment
        passed = self.kind == "discontinuation" and (self.starts_at is None or self.starts_at <= moment)
        return not ended and not passed


async def banner_candidates(
    session: AsyncSession, *, tenant: str, audiences: tuple[str, ...]
) -> tuple[Banner, ...]:
    """Every banner still to show in this network to these audiences, in the order shown (the gate caches
    it until a notice changes, and picks the first five still shown at each request: banners_now)."""
    rows = await repository.banner_notices(
        session, tenant=tenant, audiences=audiences, kinds=BANNER_KINDS, now=now(), limit=None
    )
    return tuple(Banner(r.id, r.kind, r.title, r.starts_at, r.ends_at) for r in rows)


def banners_now(candidates: Sequence[Banner], *, limit: int = 5) -> list[Banner]:
    moment = now()
    return [b for b in candidates if b.shown_at(moment)][:limit]


# --- terms of use (P3) --------------------------------------------------------------------------------------


async def publish_terms(session: AsyncSession, *, actor: Actor, terms: TermsCreate) -> TermsVersion:
    """Publish a new version and announce it; from its effective time each user accepts it at next login."""
    require_operator(actor)
    moment = now()
    row = TermsVersion(
        tenant=actor.tenant,
        version=terms.version,
        title=terms.title,
        body=terms.body,
        summary_of_changes=terms.summary_of_changes,
        effective_at=terms.effective_at,
        published_at=moment,
        published_by=str(actor.user_id),
    )
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise conflict(
            f"Version {terms.version} is already published.", slug="terms-version-exists"
        ) from None
    await announce_change(session, "terms")
    await post_system_notice(
        session,
        tenant=actor.tenant,
        kind="terms_change",
        title=terms.title,
        body=(terms.summary_of_changes or terms.title) + f"\n\n(version {terms.version})",
        actor_id=str(actor.user_id),
    )
    await _audit(
        session,
        actor,
        action="terms.published",
        target=f"terms:{row.id}",
        detail={"version": row.version, "effective_at": row.effective_at},
    )
    return row


async def terms_versions(session: AsyncSession, *, tenant: str) -> Sequence[TermsVersion]:
    return await repository.terms_versions(session, tenant=tenant)


async def terms_version(session: AsyncSession, *, tenant: str, version: str) -> TermsVersion:
    row = await repository.terms_version(session, tenant=tenant, version=version)
    if row is None:
        raise not_found("terms version")
    return row


@dataclass(frozen=True)
class TermsInForce:
    """A terms version as the gate needs it: which one, and from when it applies."""

    id: UUID
    version: str
    effective_at: datetime


async def terms_schedule(session: AsyncSession, *, tenant: str) -> tuple[TermsInForce, ...]:
    """Every version of the network with its effective time, newest first (a handful; the gate caches it)."""
    rows = await repository.terms_versions(session, tenant=tenant)
    return tuple(TermsInForce(row.id, row.version, row.effective_at) for row in rows)


def version_in_effect(schedule: Sequence[TermsInForce]) -> TermsInForce | None:
    """The version in effect now: a version published ahead takes over at its effective time by itself."""
    moment = now()
    return max((v for v in schedule if v.effective_at <= moment), key=lambda v: v.effective_at, default=None)


async def pending_terms(session: AsyncSession, *, actor: Actor) -> TermsVersion | None:
    return await repository.unaccepted_terms(session, tenant=actor.tenant, user_id=actor.user_id, now=now())


async def accept_terms(session: AsyncSession, *, actor: Actor, version: str) -> TermsAcceptance:
    """Record that this user accepted this version (idempotent: a second acceptance keeps the first time)."""
    row = await repository.terms_version(session, tenant=actor.tenant, version=version)
    if row is None:
        raise not_found("terms version")
    if row.effective_at > now():
        raise conflict("This version is not in effect yet.", slug="terms-not-in-effect")
    existing = await repository.acceptance(session, terms_version_id=row.id, user_id=actor.user_id)
    if existing is not None:
        return existing
    accepted = TermsAcceptance(
        tenant=actor.tenant,
        terms_version_id=row.id,
        user_id=actor.user_id,
        facility_id=actor.facility_id,
        accepted_at=now(),
    )
    session.add(accepted)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # the same user accepted in another tab meanwhile
        again = await repository.acceptance(session, terms_version_id=row.id, user_id=actor.user_id)
        assert again is not None
        return again
    await _audit(
        session, actor, action="terms.accepted", target=f"terms:{row.id}", detail={"version": row.version}
    )
    return accepted


async def acceptances(session: AsyncSession, *, actor: Actor, version: str) -> Sequence[TermsAcceptance]:
    if not (actor.has_role(OPERATOR) or actor.has_role(CONTRACTOR)):
        raise Problem(403, "forbidden", "Forbidden", "Only the operator may see who accepted.")
    row = await terms_version(session, tenant=actor.tenant, version=version)
    found = await repository.acceptances(session, tenant=actor.tenant, terms_version_id=row.id)
    await _audit(
        session,
        actor,
        action="terms.acceptances-read",
        target=f"terms:{row.id}",
        detail={"count": len(found)},
    )
    return found
