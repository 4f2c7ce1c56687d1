"""The federation worker: the outbox relay and audit sealer every worker runs, the delivery of signed messages to
peers, the pull of gaps from peers' feeds, the keys' lifecycle (a due key activates, a retired one leaves) and the
CAs the gateway's peer port trusts (federation.peer_trust)."""

from __future__ import annotations

from yui_common.settings import CommonSettings
from yui_common.worker import PeriodicJob, Worker

from federation import network_end
from federation.keys import service as keys
from federation.messages.delivery import deliver_due
from federation.messages.feed import pull_gaps
from federation.messages.peers import PeerClients, PeerKeys
from federation.messages.receiving import Receiver
from federation.peer_trust import service as peer_trust
from federation.projections import subscriptions
from federation.referrals.effects import expire_caches
from federation.settings import Settings


class FederationWorker(Worker):
    """A Worker that also speaks to peers. Tests replace ``peer_clients.transport`` (tests/support/stack.py)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings=settings,
            subscriptions=[*subscriptions, network_end.subscription(settings)],
            jobs=[
                PeriodicJob("federation-delivery", settings.delivery_interval_s, _deliver),
                PeriodicJob("federation-gaps", max(1.0, settings.delivery_interval_s * 4), _pull_gaps),
                PeriodicJob("federation-keys", 30.0, _advance_keys),
                PeriodicJob("federation-cache-expiry", settings.cache_expiry_interval_s, _expire_caches),
                *(
                    [
                        PeriodicJob(
                            "federation-peer-cas", settings.peer_ca_publish_interval_s, _publish_peer_cas
                        )
                    ]
                    if settings.gateway_peer_ca_file
                    else []
                ),
            ],
        )
        self.federation_settings = settings
        self.peer_clients = PeerClients(settings)
        self.peer_keys = PeerKeys(settings, self.peer_clients)
        self.receiver = Receiver(sessionmaker=self.sessionmaker, settings=settings, peer_keys=self.peer_keys)


async def _deliver(worker: Worker) -> None:
    assert isinstance(worker, FederationWorker)
    await deliver_due(worker.sessionmaker, worker.federation_settings, worker.peer_clients)


async def _pull_gaps(worker: Worker) -> None:
    assert isinstance(worker, FederationWorker)
    await pull_gaps(
        sessionmaker=worker.sessionmaker,
        settings=worker.federation_settings,
        clients=worker.peer_clients,
        receiver=worker.receiver,
    )


async def _advance_keys(worker: Worker) -> None:
    assert isinstance(worker, FederationWorker)
    async with worker.sessionmaker() as session, session.begin():
        await keys.advance(session, worker.federation_settings)


async def _expire_caches(worker: Worker) -> None:
    async with worker.sessionmaker() as session, session.begin():
        await expire_caches(session)


async def _publish_peer_cas(worker: Worker) -> None:
    assert isinstance(worker, FederationWorker)
    await peer_trust.publish(worker.sessionmaker, worker.federation_settings)


def build_worker(settings: CommonSettings) -> Worker:
    assert isinstance(settings, Settings)
    return FederationWorker(settings)
