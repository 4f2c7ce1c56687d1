"""The identity worker: the services' revocation acknowledgements, the outbox relay, the purge of settled
revocations, and the CRL publication for the gateway when configured."""

from yui_common.settings import CommonSettings
from yui_common.worker import PeriodicJob, Worker

from identity.consumers import network_end
from identity.consumers.revocations import subscription as revocation_acknowledgements
from identity.crl_publisher import publication_job
from identity.revocations import service as revocations


async def purge_settled_revocations(worker: Worker) -> None:
    async with worker.sessionmaker() as session, session.begin():
        await revocations.purge_settled(session)


def build_worker(settings: CommonSettings) -> Worker:
    jobs = [PeriodicJob("revocation-purge", 3600.0, purge_settled_revocations)]
    # The CRL job runs only where the gateway's CRL file is configured (YUI_IDENTITY_GATEWAY_CRL_FILE).
    if crl_job := publication_job():
        jobs.append(crl_job)
    return Worker(
        settings=settings,
        subscriptions=[
            revocation_acknowledgements,
            network_end.subscription(settings),
            network_end.reports_subscription(settings),
        ],
        jobs=jobs,
    )
