"""The timeline worker: consent events, the outbox relay and the retention job."""

from yui_common.settings import CommonSettings
from yui_common.worker import PeriodicJob, Worker

from timeline import objects
from timeline.consumers import subscriptions
from timeline.retention import service as retention
from timeline.settings import Settings


async def apply_retention(worker: Worker) -> None:
    """Remove posts past their network's retention, one locked batch per transaction, until none are left."""
    settings = worker.settings
    assert isinstance(settings, Settings)
    store = objects.store_for(settings)
    while True:
        async with worker.sessionmaker() as session, session.begin():
            removed = await retention.apply_retention(session, settings=settings, store=store)
        if removed == 0:
            return


def build_worker(settings: CommonSettings) -> Worker:
    interval = settings.retention_interval_s if isinstance(settings, Settings) else 3600.0
    return Worker(
        settings=settings,
        subscriptions=subscriptions,
        jobs=[PeriodicJob(name="timeline-retention", interval_s=interval, run=apply_retention)],
    )
