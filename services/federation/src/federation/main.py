"""create_app(): the federation API (peers' protocol endpoints, the operators' agreements, the keys)."""

from fastapi import FastAPI
from yui_common.app import create_service_app
from yui_common.audit_api import audit_entries_router

from federation.agreements.api import router as agreements_router
from federation.keys.api import router as keys_router
from federation.messages.api import router as protocol_router
from federation.messages.peers import PeerClients, PeerKeys
from federation.messages.receiving import Receiver
from federation.peer_trust.api import router as peer_trust_router
from federation.projections import subscriptions
from federation.referrals.api import router as referrals_router
from federation.referrals.protocol import router as referral_protocol_router
from federation.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start_peers(app: FastAPI) -> None:
        # Tests replace app.state.peer_clients.transport with the in-process app (tests/support/stack.py).
        app.state.peer_clients = PeerClients(settings)
        app.state.peer_keys = PeerKeys(settings, app.state.peer_clients)
        app.state.receiver = Receiver(
            sessionmaker=app.state.sessionmaker, settings=settings, peer_keys=app.state.peer_keys
        )

    async def close_clients(app: FastAPI) -> None:
        await app.state.peer_clients.aclose()
        timeline = getattr(app.state, "timeline_client", None)
        if timeline is not None:
            await timeline.aclose()

    return create_service_app(
        settings=settings,
        title="Yui federation",
        description="Agreements with neighbouring networks and the signed messages that cross between them.",
        routers=[
            protocol_router,
            referral_protocol_router,
            keys_router,
            agreements_router,
            referrals_router,
            peer_trust_router,
            audit_entries_router("federation"),
        ],
        consumer_queues=[sub.queue for sub in subscriptions],
        on_startup=[start_peers],
        on_shutdown=[close_clients],
    )
