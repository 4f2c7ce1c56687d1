"""The portal worker: the outbox relay, and identity's network events (a new network's first terms of use)."""

from yui_common.settings import CommonSettings
from yui_common.worker import Worker

from portal import network_end
from portal.networks import consumers as networks


def build_worker(settings: CommonSettings) -> Worker:
    return Worker(
        settings=settings, subscriptions=[networks.subscription, network_end.subscription(settings)]
    )
