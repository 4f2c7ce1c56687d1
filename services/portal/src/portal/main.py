"""create_app(): the portal (public site and staff UI)."""

from pathlib import Path

from fastapi import FastAPI
from yui_common.app import create_service_app
from yui_common.audit_api import audit_entries_router
from yui_common.web import install_web

from portal.api.public import install_public_site, router
from portal.clients import close_service_clients
from portal.operations.gate_cache import start_gate_cache, stop_gate_cache
from portal.public.networks import install_public_networks
from portal.settings import Settings
from portal.staff import install_staff


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        settings=settings,
        title="Yui portal",
        description="The public site and the staff UI.",
        routers=[router],
        on_startup=[start_gate_cache],
        on_shutdown=[close_service_clients, stop_gate_cache],
    )
    app.include_router(audit_entries_router("portal"))
    install_web(app, Path(__file__).parent / "templates", auto_reload=settings.templates_auto_reload)
    install_public_networks(app)  # before the gate, which reads the network it chose
    install_public_site(app)
    install_staff(app)
    return app
