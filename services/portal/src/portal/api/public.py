"""The public site's routers with the notices, terms, inquiry and maintenance APIs and operator pages."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from portal.federation.agreements import router as agreement_pages
from portal.notices.api import router as notices_api
from portal.operations.api import router as operations_api
from portal.operations.drug_master import router as drug_master_pages
from portal.operations.gate import install_portal_gate
from portal.operations.pages import router as operator_pages
from portal.public.pages import router as public_pages

router = APIRouter()
for part in (public_pages, notices_api, operations_api, operator_pages, drug_master_pages, agreement_pages):
    router.include_router(part)


def install_public_site(app: FastAPI) -> None:
    """After install_web (whose ``local_time`` filter shows times in Japan's time): the gate (maintenance,
    terms, banners)."""
    install_portal_gate(app)
