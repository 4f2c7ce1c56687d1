"""create_app(): the notify API."""

from fastapi import FastAPI
from yui_common.app import create_service_app
from yui_common.audit_api import audit_entries_router
from yui_common.db import asyncpg_dsn

from notify.api.notifications import router as notifications_router
from notify.api.preferences import router as preferences_router
from notify.consumers import subscriptions
from notify.live import LiveHub
from notify.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start_live_hub(app: FastAPI) -> None:
        app.state.live_hub = LiveHub(asyncpg_dsn(settings.dsn), app.state.sessionmaker)
        await app.state.live_hub.start()

    async def stop_live_hub(app: FastAPI) -> None:
        await app.state.live_hub.stop()

    return create_service_app(
        settings=settings,
        title="Yui notify",
        description="In-app, live and e-mail notifications.",
        routers=[preferences_router, notifications_router, audit_entries_router("notify")],
        consumer_queues=[s.queue for s in subscriptions],
        on_startup=[start_live_hub],
        on_shutdown=[stop_live_hub],
    )
