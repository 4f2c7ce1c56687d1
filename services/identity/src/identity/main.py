"""create_app(): the identity API and admin UI."""

from pathlib import Path

from fastapi import FastAPI
from yui_common.app import create_service_app
from yui_common.audit_api import audit_entries_router
from yui_common.web import install_web

from identity.api.admin import router as admin_router
from identity.api.auth import router as auth_router
from identity.api.certificates import router as certificates_router
from identity.api.directory import router as directory_router
from identity.api.facilities import router as facilities_router
from identity.api.incidents import router as incidents_router
from identity.api.networks import router as networks_router
from identity.api.sessions import router as sessions_router
from identity.api.suspensions import router as suspensions_router
from identity.api.users import router as users_router
from identity.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    app = create_service_app(
        settings=settings or Settings(),
        title="Yui identity",
        description="Networks, facilities, staff accounts, login and tokens.",
        routers=[
            auth_router,
            admin_router,
            certificates_router,
            facilities_router,
            users_router,
            sessions_router,
            suspensions_router,
            incidents_router,
            networks_router,
            directory_router,
            audit_entries_router("identity"),
        ],
    )
    install_web(app, Path(__file__).parent / "templates")
    return app
