"""The notify worker: consumers, the outbox relay, e-mail sending, daily digests and retention."""

from yui_common.settings import CommonSettings
from yui_common.worker import PeriodicJob, Worker

from notify import deliveries, service
from notify.consumers import network_end, subscriptions
from notify.settings import Settings


async def send_emails(worker: Worker) -> None:
    assert isinstance(worker.settings, Settings)
    async with worker.sessionmaker() as session, session.begin():
        await deliveries.send_pending_emails(session, settings=worker.settings)
        await deliveries.send_applicant_emails(session, settings=worker.settings)


async def send_digests(worker: Worker) -> None:
    assert isinstance(worker.settings, Settings)
    async with worker.sessionmaker() as session, session.begin():
        await deliveries.send_due_digests(session, settings=worker.settings)


async def purge_expired(worker: Worker) -> None:
    async with worker.sessionmaker() as session, session.begin():
        await service.purge_expired(session)


def build_worker(settings: CommonSettings) -> Worker:
    assert isinstance(settings, Settings)
    return Worker(
        settings=settings,
        subscriptions=[*subscriptions, network_end.subscription(settings)],
        jobs=[
            PeriodicJob("notify-emails", settings.email_interval_s, send_emails),
            PeriodicJob("notify-digests", settings.digest_interval_s, send_digests),
            PeriodicJob("notify-retention", settings.retention_interval_s, purge_expired),
        ],
    )
