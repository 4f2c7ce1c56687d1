"""The worker's e-mail rounds: what was queued to send at once, the applicants' answers, the daily digests."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession

from notify import kinds, mail, repository, service
from notify.models import NetworkDefaults, Preference
from notify.settings import Settings

log = logging.getLogger(__name__)


async def send_pending_emails(session: AsyncSession, *, settings: Settings, limit: int = 100) -> int:
    """Send what is queued, each row locked so no other replica sends it too. Someone who may no longer hear
    about it (left the team, suspended, support stopped) is skipped, even though it was queued before."""
    sent = 0
    for delivery, may_hear in await repository.claim_pending_emails(session, limit=limit):
        preference = (
            await repository.preferences_of(session, tenant=delivery.tenant, user_ids=[delivery.user_id])
        ).get(delivery.user_id)
        if not may_hear or preference is None or not preference.email:
            await repository.settle_email(session, delivery=delivery, outcome="withheld")
            continue
        try:
            await mail.send(
                settings,
                mail.something_new(
                    settings,
                    to=preference.email,
                    message_key=f"{delivery.source_event_id}.{delivery.user_id}",
                ),
            )
        except (aiosmtplib.SMTPException, OSError):
            # Left pending for the next round; one unreachable address must not hold back everyone else's.
            log.warning("e-mail not sent; will retry", exc_info=True)
            continue
        await repository.settle_email(session, delivery=delivery, outcome="sent")
        sent += 1
    return sent


async def send_applicant_emails(session: AsyncSession, *, settings: Settings, limit: int = 20) -> int:
    """Tell applicants the operator's decision (Ko9), once per decision event, whichever replica locks it."""
    sent = 0
    for pending in await repository.claim_pending_applicant_emails(session, limit=limit):
        try:
            await mail.send(
                settings,
                mail.application_decided(
                    settings,
                    to=pending.address,
                    approved=pending.decision == "approved",
                    message_key=f"{pending.source_event_id}.applicant",
                ),
            )
        except (aiosmtplib.SMTPException, OSError):
            log.warning("applicant e-mail not sent; will retry", exc_info=True)
            continue
        pending.sent_at = datetime.now(UTC)
        sent += 1
    return sent


async def send_due_digests(session: AsyncSession, *, settings: Settings, now: datetime | None = None) -> int:
    """Once a day per person, at or after their digest hour (local time): how many new things wait in Yui."""
    now = now or datetime.now(UTC)
    local = now.astimezone(ZoneInfo(settings.timezone))
    sent = 0
    defaults_by_tenant: dict[str, NetworkDefaults | None] = {}
    for preference in await repository.digest_candidates(session):
        if preference.tenant not in defaults_by_tenant:
            defaults_by_tenant[preference.tenant] = await repository.network_defaults(
                session, tenant=preference.tenant
            )
        defaults = defaults_by_tenant[preference.tenant]
        if local.hour < service.digest_hour(preference, defaults):
            continue
        digest_kinds = [
            kind
            for kind in kinds.ALL_KINDS
            if kind not in kinds.IMMEDIATE_KINDS
            and service.channel_for(kind, preference, defaults) == kinds.EMAIL
        ]
        if not digest_kinds:
            continue
        try:
            # A savepoint per person: a failed send gives back only that person's claim, to retry next round.
            async with session.begin_nested():
                sent += await _send_digest(
                    session, settings=settings, preference=preference, digest_kinds=digest_kinds, now=now
                )
        except (aiosmtplib.SMTPException, OSError):
            log.warning("digest not sent; will retry", exc_info=True)
    return sent


async def _send_digest(
    session: AsyncSession,
    *,
    settings: Settings,
    preference: Preference,
    digest_kinds: list[str],
    now: datetime,
) -> int:
    local_day = now.astimezone(ZoneInfo(settings.timezone)).date()
    since = await repository.last_digest_until(session, tenant=preference.tenant, user_id=preference.user_id)
    if not await repository.claim_digest(
        session, tenant=preference.tenant, user_id=preference.user_id, day=local_day, covered_until=now
    ):
        return 0
    waiting = await repository.digest_kinds_since(
        session,
        tenant=preference.tenant,
        user_id=preference.user_id,
        kinds=digest_kinds,
        since=since,
        until=now,
    )
    if not waiting or not preference.email:
        return 0
    await mail.send(
        settings,
        mail.daily_digest(
            settings,
            to=preference.email,
            count=len(waiting),
            message_key=f"digest.{local_day.isoformat()}.{preference.user_id}",
        ),
    )
    return 1
