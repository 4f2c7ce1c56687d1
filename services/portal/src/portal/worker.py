"""The portal worker: the outbox relay (portal consumes no events yet)."""

from yui_common.settings import CommonSettings
from yui_common.worker import Worker


def build_worker(settings: CommonSettings) -> Worker:
    return Worker(settings=settings)
