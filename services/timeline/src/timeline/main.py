"""create_app(): the timeline API."""

from fastapi import FastAPI
from yui_common.app import create_service_app
from yui_common.audit_api import audit_entries_router
from yui_common.auth import JwksKeySet

from timeline.attachments import api as attachments
from timeline.attachments import images
from timeline.consumers import subscriptions
from timeline.federated import api as federated
from timeline.groups import api as groups
from timeline.imports import api as imports
from timeline.integrity import api as integrity
from timeline.integrity.signing import signer_for
from timeline.medications import api as medications
from timeline.posts import api as posts
from timeline.retention import api as retention
from timeline.settings import Settings
from timeline.summary import api as summary
from timeline.support_requests import api as support_requests
from timeline.vitals import api as vitals


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    images.install_pixel_limit(settings.max_image_pixels)

    async def load_signing_key(app: FastAPI) -> None:
        app.state.signer = signer_for(settings)
        # The keys federation signs its grants with (tests give it a transport to the in-process app).
        app.state.federation_keys = JwksKeySet(settings.federation_jwks_url)

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
            support_requests.router,
            integrity.router,
            attachments.router,
            groups.router,
            retention.router,
            vitals.router,
            summary.router,
            imports.router,
            medications.router,
            federated.router,
            audit_entries_router("timeline"),
        ],
        consumer_queues=[sub.queue for sub in subscriptions],
        uses_object_storage=True,
        on_startup=[load_signing_key],
    )
