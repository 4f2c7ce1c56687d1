"""create_app(): the consent API."""

from fastapi import FastAPI
from yui_common.app import create_service_app
from yui_common.audit_api import audit_entries_router

from consent.api import care_team, exceptional_access, subjects
from consent.consumers.cascade import subscription
from consent.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="Yui consent",
        description="Subjects, consent and its withdrawal, care teams, exceptional access.",
        routers=[
            subjects.router,
            subjects.cascades,
            care_team.router,
            exceptional_access.router,
            exceptional_access.residence_exceptions,
            audit_entries_router("consent"),
        ],
        consumer_queues=[subscription.queue],
        uses_object_storage=True,
    )
