"""The consent worker: cascade reports, the outbox relay and the end of expired exceptional grants."""

from yui_common.settings import CommonSettings
from yui_common.worker import PeriodicJob, Worker

from consent.consumers.cascade import subscription
from consent.exceptional_access import service as exceptional_access
from consent.settings import Settings


async def expire_exceptional_access(worker: Worker) -> None:
    async with worker.sessionmaker() as session, session.begin():
        await exceptional_access.expire_due_grants(session)


def build_worker(settings: CommonSettings) -> Worker:
    assert isinstance(settings, Settings)
    return Worker(
        settings=settings,
        subscriptions=[subscription],
        jobs=[
            PeriodicJob(
                "exceptional-access-expiry",
                settings.exceptional_access_sweep_interval_s,
                expire_exceptional_access,
            )
        ],
    )
