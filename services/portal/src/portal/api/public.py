"""The public site's routers with the notices, terms, inquiry and maintenance APIs and operator pages."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, FastAPI

from portal.notices.api import router as notices_api
from portal.operations.api import router as operations_api
from portal.operations.gate import install_portal_gate
from portal.operations.pages import router as operator_pages
from portal.public.hours import LOCAL_TIME
from portal.public.pages import router as public_pages

router = APIRouter()
for part in (public_pages, notices_api, operations_api, operator_pages):
    router.include_router(part)


def local_time(value: datetime | None, with_time: bool = True) -> str:
    """A moment as people in the network read it (Japan time), for templates."""
    if value is None:
        return ""
    local = value.astimezone(LOCAL_TIME)
    return local.strftime("%Y-%m-%d %H:%M") if with_time else local.strftime("%Y-%m-%d")


def install_public_site(app: FastAPI) -> None:
    """After install_web: the templates' time filter, and the gate (maintenance, terms, banners)."""
    app.state.templates.filters["local_time"] = local_time
    install_portal_gate(app)
