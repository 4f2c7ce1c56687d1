"""create_app(): the identity API and admin UI."""

from pathlib import Path

from fastapi import FastAPI
from yui_common.app import create_service_app
from yui_common.audit_api import audit_entries_router
from yui_common.web import install_web

from identity.accounts.api import credentials_router
from identity.accounts.api import router as users_router
from identity.admin.api import router as admin_router
from identity.audit_search.api import router as audit_search_router
from identity.certificates.api import router as certificates_router
from identity.directory.api import router as directory_router
from identity.facilities.api import router as facilities_router
from identity.incidents.api import router as incidents_router
from identity.network_end.pages import router as network_end_pages
from identity.networks.api import router as networks_router
from identity.networks.pages import router as network_settings_pages
from identity.own_account.api import router as own_account_router
from identity.people.api import router as people_router
from identity.platform.api import router as platform_router
from identity.revocations.api import router as revocations_router
from identity.sessions.api import router as sessions_router
from identity.settings import Settings
from identity.signing_keys.api import router as signing_keys_router
from identity.suspensions.api import router as suspensions_router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = create_service_app(
        settings=settings,
        title="Yui identity",
        description="Networks, facilities, staff accounts, login and tokens.",
        routers=[
            signing_keys_router,
            sessions_router,
            credentials_router,
            platform_router,
            network_end_pages,
            network_settings_pages,
            admin_router,
            audit_search_router,
            certificates_router,
            facilities_router,
            users_router,
            suspensions_router,
            revocations_router,
            incidents_router,
            networks_router,
            directory_router,
            people_router,
            own_account_router,
            audit_entries_router("identity"),
        ],
    )
    install_web(app, Path(__file__).parent / "templates", auto_reload=settings.templates_auto_reload)
    return app
