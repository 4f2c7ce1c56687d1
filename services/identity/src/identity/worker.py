"""The identity worker: the outbox relay, and the CRL publication for the gateway when configured."""

from yui_common.settings import CommonSettings
from yui_common.worker import Worker

from identity.crl_publisher import publication_job


def build_worker(settings: CommonSettings) -> Worker:
    # The CRL job runs only where the gateway's CRL file is configured (YUI_IDENTITY_GATEWAY_CRL_FILE).
    return Worker(settings=settings, jobs=[job for job in [publication_job()] if job])
