"""The withdrawal cascade's gauges, set by consent's worker (scraped as consent-worker; no labels, no subject)."""

from __future__ import annotations

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from consent.withdrawals import service

CASCADES_INCOMPLETE = Gauge(
    "yui_withdrawal_cascades_incomplete", "Withdrawals of consent some service has not reported done yet"
)
CASCADE_OLDEST_INCOMPLETE_AGE = Gauge(
    "yui_withdrawal_cascade_oldest_incomplete_age_seconds",
    "Seconds since the oldest withdrawal not yet done by every service was asked (0 when none)",
)

PEER_ACKNOWLEDGEMENTS_OVERDUE = Gauge(
    "yui_withdrawal_peer_acknowledgements_overdue",
    "Federated peer networks told to purge a withdrawn subject over a minute ago that have not acknowledged",
)


async def refresh_cascade_gauges(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        count, oldest_age = await service.cascade_backlog(session)
        overdue = await service.overdue_peer_acknowledgements(session)
    CASCADES_INCOMPLETE.set(count)
    CASCADE_OLDEST_INCOMPLETE_AGE.set(oldest_age)
    PEER_ACKNOWLEDGEMENTS_OVERDUE.set(overdue)
