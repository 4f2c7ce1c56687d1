"""create_app(): the consent API."""

from fastapi import FastAPI
from yui_common.app import create_service_app
from yui_common.audit_api import audit_entries_router

from consent.care_teams import api as care_teams
from consent.consents import api as consents
from consent.consumers import cascade, people
from consent.exceptional_access import api as exceptional_access
from consent.settings import Settings
from consent.subjects import api as subjects
from consent.withdrawals import api as withdrawals


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or Settings(),
        title="Yui consent",
        description="Subjects, consent and its withdrawal, care teams, exceptional access.",
        routers=[
            # In the order the paths were always documented: /subjects/… first, then the rest.
            subjects.router,
            consents.router,
            care_teams.router,
            withdrawals.router,
            withdrawals.cascades,
            care_teams.invitations,
            exceptional_access.router,
            subjects.residence_exceptions,
            subjects.municipalities,
            audit_entries_router("consent"),
        ],
        consumer_queues=[cascade.subscription.queue, people.subscription.queue],
        uses_object_storage=True,
    )
