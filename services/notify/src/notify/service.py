"""Notify use cases: who is told what, through which channel, and whether they may still hear it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import outbox, revocations
from yui_common.auth import Principal
from yui_common.events.consent import ConsentWithdrawnV1
from yui_common.events.notify import NotifySupportStoppedV1
from yui_common.problems import Problem, not_found

from notify import contents, kinds, repository
from notify.contents import PostContent
from notify.models import NetworkDefaults, Preference
from notify.schemas import Inbox, NotificationRead


def channel_for(kind: str, preference: Preference | None, defaults: NetworkDefaults | None) -> str:
    """The user's choice for this kind, else the network's, else in-app."""
    if preference is not None and kind in preference.channels:
        return preference.channels[kind]
    if defaults is not None and kind in defaults.channels:
        return defaults.channels[kind]
    return kinds.DEFAULT_CHANNEL


async def tell(
    session: AsyncSession,
    *,
    tenant: str,
    user_ids: Sequence[UUID],
    kind: str,
    source_event_id: UUID,
    subject_id: UUID | None = None,
    params: dict[str, object] | None = None,
    content: PostContent | None = None,
) -> int:
    """One notification per person and event (a replay adds nothing), an e-mail queued for those who chose
    e-mail for an addressed kind, and a wake-up for every open live stream. Returns how many were created.

    ``content`` is what the event said about a post (ids, author, excerpt); the e-mail never carries it."""
    recipients = list(dict.fromkeys(user_ids))
    if not recipients:
        return 0
    preferences = await repository.preferences_of(session, tenant=tenant, user_ids=recipients)
    defaults = await repository.network_defaults(session, tenant=tenant)
    channels = {user_id: channel_for(kind, preferences.get(user_id), defaults) for user_id in recipients}
    rows: list[dict[str, object]] = [
        {
            "id": uuid7(),
            "tenant": tenant,
            "user_id": user_id,
            "kind": kind,
            "subject_id": subject_id,
            "source_event_id": source_event_id,
            "params": params or {},
            **(content or PostContent()).columns(),
        }
        for user_id in recipients
        if channels[user_id] != kinds.OFF
    ]
    created = await repository.add_notifications(session, rows)
    emails = [
        {
            "source_event_id": source_event_id,
            "user_id": user_id,
            "tenant": tenant,
            "notification_id": notification_id,
        }
        for notification_id, user_id in created
        if kind in kinds.IMMEDIATE_KINDS
        and channels[user_id] == kinds.EMAIL
        and (preference := preferences.get(user_id)) is not None
        and preference.email
    ]
    await repository.queue_emails(session, emails)
    await repository.announce(
        session, notifications=[(user_id, notification_id) for notification_id, user_id in created]
    )
    return len(created)


async def notify_team(
    session: AsyncSession,
    *,
    tenant: str,
    subject_id: UUID,
    kind: str,
    source_event_id: UUID,
    params: dict[str, object] | None = None,
    exclude: Sequence[UUID] | UUID | None = None,
    content: PostContent | None = None,
) -> int:
    excluded = {exclude} if isinstance(exclude, UUID) else set(exclude or ())
    members = [m for m in await repository.team_of(session, subject_id=subject_id) if m not in excluded]
    return await tell(
        session,
        tenant=tenant,
        user_ids=members,
        kind=kind,
        source_event_id=source_event_id,
        subject_id=subject_id,
        params=params,
        content=content,
    )


async def support_stopped(
    session: AsyncSession, *, tenant: str, event_id: UUID, withdrawal: ConsentWithdrawnV1
) -> int:
    """Tell the care team support stopped, then stop: report completion in the same commit."""
    created = await notify_team(
        session,
        tenant=tenant,
        subject_id=withdrawal.subject_id,
        kind=kinds.SUPPORT_STOPPED,
        source_event_id=event_id,
    )
    # From now on nothing about the subject is shown, streamed or e-mailed but the stop notice itself, and
    # nothing quoted from its posts is kept.
    await repository.stop_subject(session, subject_id=withdrawal.subject_id)
    await repository.blank_excerpts(session, subject_id=withdrawal.subject_id)
    await outbox.add_event(
        session,
        NotifySupportStoppedV1(
            subject_id=withdrawal.subject_id,
            withdrawal_id=withdrawal.withdrawal_id,
            items_affected=created,
            completed_at=datetime.now(UTC),
        ),
        tenant=tenant,
        subject=str(withdrawal.subject_id),
    )
    return created


async def tell_addressees(
    session: AsyncSession,
    *,
    tenant: str,
    user_id: UUID | None,
    facility_id: UUID | None,
    sender: UUID,
    kind: str,
    source_event_id: UUID,
    subject_id: UUID,
    params: dict[str, object],
    content: PostContent | None = None,
) -> int:
    """Tell a support request's addressee: one user, or every known user of the addressed facility; not the
    ``sender``, who acted and knows already."""
    people = [user_id] if user_id is not None else []
    if facility_id is not None:
        people += await repository.users_of_facility(session, tenant=tenant, facility_id=facility_id)
    return await tell(
        session,
        tenant=tenant,
        user_ids=[p for p in people if p != sender],
        kind=kind,
        source_event_id=source_event_id,
        subject_id=subject_id,
        params=params,
        content=content,
    )


async def tell_operators(
    session: AsyncSession, *, tenant: str, kind: str, source_event_id: UUID, params: dict[str, object]
) -> int:
    return await tell(
        session,
        tenant=tenant,
        user_ids=await repository.operators_of(session, tenant=tenant),
        kind=kind,
        source_event_id=source_event_id,
        params=params,
    )


async def tell_active_users(
    session: AsyncSession,
    *,
    tenant: str | None,
    kind: str,
    source_event_id: UUID,
    params: dict[str, object],
) -> int:
    """Tell every active account of one network, or of all (``None``), each under its own network.

    Facilities held (suspended) or accounts not active receive nothing (n5), as for every other kind.
    """
    by_network: defaultdict[str, list[UUID]] = defaultdict(list)
    for account_tenant, user_id in await repository.active_accounts(session, tenant=tenant):
        by_network[account_tenant].append(user_id)
    created = 0
    for account_tenant, user_ids in by_network.items():
        created += await tell(
            session,
            tenant=account_tenant,
            user_ids=user_ids,
            kind=kind,
            source_event_id=source_event_id,
            params=params,
        )
    return created


async def queue_applicant_email(
    session: AsyncSession, *, tenant: str, source_event_id: UUID, address: str, decision: str
) -> None:
    # The applicant may have no account yet: the address they applied with is the only way to reach them.
    await repository.queue_applicant_email(
        session, source_event_id=source_event_id, tenant=tenant, address=address, decision=decision
    )


async def warn_of_failed_sign_ins(
    session: AsyncSession, *, tenant: str, user_id: UUID, blocked_until: datetime, source_event_id: UUID
) -> None:
    """Tell the account holder that sign-ins as them kept failing and retries now wait: if it was not them,
    someone is guessing their password. The e-mail (when chosen) only says there is something new."""
    await tell(
        session,
        tenant=tenant,
        user_ids=[user_id],
        kind=kinds.SIGN_IN_BACKOFF_STARTED,
        source_event_id=source_event_id,
        params={"blocked_until": blocked_until.isoformat()},
    )


# --- the inbox ---------------------------------------------------------------------------------------


async def my_inbox(
    session: AsyncSession, *, principal: Principal, limit: int, grouped: bool = False
) -> Inbox:
    """The newest notifications the reader may hear of, each naming its patient and author; ``grouped``
    adds them per patient, the patient with the newest notification first."""
    found = await repository.inbox(session, tenant=principal.tenant, user_id=principal.user_id, limit=limit)
    items = await contents.describe(session, found)
    await contents.record_shown(session, principal, items, via="inbox")
    unread = await repository.unread_count(session, tenant=principal.tenant, user_id=principal.user_id)
    if grouped:
        return Inbox(unread=unread, items=items, groups=contents.group_by_subject(items))
    return Inbox(unread=unread, items=items)


async def unread_count(session: AsyncSession, *, principal: Principal) -> int:
    return await repository.unread_count(session, tenant=principal.tenant, user_id=principal.user_id)


async def mark_read(session: AsyncSession, *, principal: Principal, notification_id: UUID) -> None:
    if not await repository.mark_read(
        session, tenant=principal.tenant, user_id=principal.user_id, notification_id=notification_id
    ):
        raise not_found("notification")


async def mark_all_read(session: AsyncSession, *, principal: Principal) -> int:
    return await repository.mark_all_read(session, tenant=principal.tenant, user_id=principal.user_id)


async def still_signed_in(session: AsyncSession, *, principal: Principal, issued_at: int) -> bool:
    """What the API checks per request, for a live stream as it runs: nothing of it revoked since."""
    kind = await revocations.revoked_kind(
        session,
        user_id=str(principal.user_id),
        facility_id=str(principal.facility_id) if principal.facility_id else None,
        session_id=principal.session_id,
        cert_fingerprint=principal.cert_fingerprint,
        issued_at=issued_at,
        tenant=principal.tenant,
    )
    return kind is None


# Longer than any notify transaction takes from drawing an id to committing it.
LATE_COMMIT_WINDOW = timedelta(seconds=30)


async def unsent_for_stream(
    session: AsyncSession, *, principal: Principal, after_id: UUID | None, already_sent: set[UUID]
) -> list[NotificationRead]:
    """New for this stream: after the last id it sent, and what committed late that it has not sent, each
    naming its patient and author (audited as shown, in the caller's transaction)."""
    found = await repository.newer_than(
        session,
        tenant=principal.tenant,
        user_id=principal.user_id,
        after_id=after_id,
        also_since=LATE_COMMIT_WINDOW if already_sent else None,
    )
    items = await contents.describe(session, [n for n in found if n.id not in already_sent])
    await contents.record_shown(session, principal, items, via="live")
    return items


# --- preferences -------------------------------------------------------------------------------------


def _check_channels(channels: dict[str, str]) -> None:
    unknown = [k for k in channels if k not in kinds.ALL_KINDS]
    wrong = [k for k, v in channels.items() if v not in kinds.CHANNELS]
    if unknown or wrong:
        raise Problem(
            422,
            "unknown-notification-kind",
            "Unknown kind or channel",
            f"Kinds must be among {', '.join(kinds.ALL_KINDS)}; channels among {', '.join(kinds.CHANNELS)}.",
        )


async def effective_preferences(session: AsyncSession, *, principal: Principal) -> dict[str, object]:
    preference = (
        await repository.preferences_of(session, tenant=principal.tenant, user_ids=[principal.user_id])
    ).get(principal.user_id)
    defaults = await repository.network_defaults(session, tenant=principal.tenant)
    return {
        "email": preference.email if preference else None,
        "channels": {kind: channel_for(kind, preference, defaults) for kind in kinds.ALL_KINDS},
        "digest_hour": digest_hour(preference, defaults),
    }


async def update_preferences(
    session: AsyncSession,
    *,
    principal: Principal,
    email: str | None,
    channels: dict[str, str],
    digest_hour: int | None,
) -> None:
    _check_channels(channels)
    await repository.save_preference(
        session,
        tenant=principal.tenant,
        user_id=principal.user_id,
        values={"email": email, "channels": channels, "digest_hour": digest_hour},
    )


def _require_operator(principal: Principal) -> None:
    if not principal.has_role("operator"):
        raise Problem(403, "forbidden", "Operators only", "Only the network's operator sets its defaults.")


async def network_defaults(session: AsyncSession, *, principal: Principal) -> dict[str, object]:
    defaults = await repository.network_defaults(session, tenant=principal.tenant)
    return {
        "channels": {kind: channel_for(kind, None, defaults) for kind in kinds.ALL_KINDS},
        "digest_hour": defaults.digest_hour if defaults else kinds.DEFAULT_DIGEST_HOUR,
        "retention_days": defaults.retention_days if defaults else kinds.DEFAULT_RETENTION_DAYS,
    }


async def update_network_defaults(
    session: AsyncSession,
    *,
    principal: Principal,
    channels: dict[str, str],
    digest_hour: int,
    retention_days: int,
) -> None:
    _require_operator(principal)
    _check_channels(channels)
    await repository.save_network_defaults(
        session,
        tenant=principal.tenant,
        values={"channels": channels, "digest_hour": digest_hour, "retention_days": retention_days},
    )


def digest_hour(preference: Preference | None, defaults: NetworkDefaults | None) -> int:
    if preference is not None and preference.digest_hour is not None:
        return preference.digest_hour
    return defaults.digest_hour if defaults else kinds.DEFAULT_DIGEST_HOUR


# --- retention (worker) -----------------------------------------------------------------------------


async def purge_expired(session: AsyncSession) -> int:
    return await repository.purge_expired(session)
