"""The timeline worker: consent and identity events, the outbox relay, the retention job and the sweep of unreferenced
uploads."""

import logging
from datetime import UTC, datetime, timedelta

from yui_common.settings import CommonSettings
from yui_common.worker import PeriodicJob, Worker

from timeline import objects
from timeline.attachments import sweep
from timeline.consumers import network_end, subscriptions
from timeline.retention import service as retention
from timeline.settings import Settings

log = logging.getLogger(__name__)


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


async def sweep_unreferenced_uploads(worker: Worker) -> None:
    """Remove stored objects older than the grace period that no attachment row references, a page of the
    bucket's listing per transaction. Safe beside other replicas: removing a removed object is no error."""
    settings = worker.settings
    assert isinstance(settings, Settings)
    store = objects.store_for(settings)
    older_than = datetime.now(UTC) - timedelta(seconds=settings.upload_sweep_grace_s)
    removed = 0
    async for page in sweep.listed_pages(store):
        keys = sweep.sweepable(page, older_than=older_than)
        if keys:
            async with worker.sessionmaker() as session, session.begin():
                removed += await sweep.remove_unreferenced(session, store, keys=keys)
    if removed:
        log.info("removed %d stored objects no attachment references", removed)


def build_worker(settings: CommonSettings) -> Worker:
    timeline = settings if isinstance(settings, Settings) else Settings()
    return Worker(
        settings=settings,
        subscriptions=[*subscriptions, network_end.subscription(timeline)],
        jobs=[
            PeriodicJob(
                name="timeline-retention", interval_s=timeline.retention_interval_s, run=apply_retention
            ),
            PeriodicJob(
                name="timeline-upload-sweep",
                interval_s=timeline.upload_sweep_interval_s,
                run=sweep_unreferenced_uploads,
            ),
        ],
    )
