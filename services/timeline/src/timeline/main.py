"""create_app(): the timeline API."""

from fastapi import FastAPI
from yui_common.app import create_service_app
from yui_common.audit_api import audit_entries_router

from timeline.api import attachments, groups, overview, posts
from timeline.consumers import subscriptions
from timeline.settings import Settings
from timeline.signing import signer_for


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def load_signing_key(app: FastAPI) -> None:
        app.state.signer = signer_for(settings)

    return create_service_app(
        settings=settings,
        title="Yui timeline",
        description=(
            "Posts per subject and per group, shared with the care team under consent: threads, mentions, "
            "read marks, support requests, signed versions, attachments in object storage, search and FHIR "
            "export. Shared information is a reference copy (header X-Yui-Reference-Only, reference_notice)."
        ),
        routers=[
            posts.router,
            attachments.router,
            groups.router,
            overview.router,
            audit_entries_router("timeline"),
        ],
        consumer_queues=[sub.queue for sub in subscriptions],
        uses_object_storage=True,
        on_startup=[load_signing_key],
    )
