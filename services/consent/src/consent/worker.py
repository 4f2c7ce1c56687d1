"""The consent worker: cascade reports, identity's people and networks, outbox relay, expiring exceptional grants, the cascade's gauges."""

from yui_common.settings import CommonSettings
from yui_common.worker import PeriodicJob, Worker

from consent.consumers import cascade, network_end, networks, people
from consent.exceptional_access import service as exceptional_access
from consent.settings import Settings
from consent.withdrawals.metrics import refresh_cascade_gauges


async def expire_exceptional_access(worker: Worker) -> None:
    async with worker.sessionmaker() as session, session.begin():
        await exceptional_access.expire_due_grants(session)


async def measure_withdrawal_cascades(worker: Worker) -> None:
    await refresh_cascade_gauges(worker.sessionmaker)


def build_worker(settings: CommonSettings) -> Worker:
    assert isinstance(settings, Settings)
    return Worker(
        settings=settings,
        subscriptions=[
            cascade.subscription,
            people.subscription,
            networks.subscription,
            network_end.subscription(settings),
        ],
        jobs=[
            PeriodicJob(
                "exceptional-access-expiry",
                settings.exceptional_access_sweep_interval_s,
                expire_exceptional_access,
            ),
            PeriodicJob(
                "withdrawal-cascade-gauges", settings.cascade_gauge_interval_s, measure_withdrawal_cascades
            ),
        ],
    )
