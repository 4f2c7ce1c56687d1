"""A subject's consents and their scanned forms (all 404 to outsiders)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, File, UploadFile, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from consent.consents import service
from consent.consents.schemas import ConsentCreate, ConsentFormLink, ConsentRead, consent_read
from consent.dependencies import SUBJECT_NOT_FOUND, AppSettings, Store

router = APIRouter(prefix="/subjects", tags=["subjects"])
FORM_LINK_TTL = timedelta(minutes=5)


@router.post(
    "/{subject_id}/consents",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentRead,
    responses=SUBJECT_NOT_FOUND,
)
async def give_consent(
    subject_id: UUID, body: ConsentCreate, session: DbSession, principal: CurrentPrincipal
) -> ConsentRead:
    consent = await service.give_consent(
        session, principal=principal, subject_id=subject_id, **body.model_dump()
    )
    return consent_read(consent)


@router.get("/{subject_id}/consents", response_model=list[ConsentRead], responses=SUBJECT_NOT_FOUND)
async def list_consents(
    subject_id: UUID, session: DbSession, principal: CurrentPrincipal
) -> list[ConsentRead]:
    """Every consent on file, newest first: who consented, when, and who obtained it where (C2, C3)."""
    return [
        consent_read(c)
        for c in await service.consents_of(session, principal=principal, subject_id=subject_id)
    ]


@router.put(
    "/{subject_id}/consents/{consent_id}/form",
    response_model=ConsentRead,
    responses={
        **SUBJECT_NOT_FOUND,
        409: {"description": "A form is already on file"},
        413: {"description": "Too large"},
        415: {"description": "Not a PDF, JPEG or PNG"},
    },
)
async def store_consent_form(
    subject_id: UUID,
    consent_id: UUID,
    form: Annotated[UploadFile, File(description="The scanned consent form: PDF, JPEG or PNG")],
    settings: AppSettings,
    store: Store,
    session: DbSession,
    principal: CurrentPrincipal,
) -> ConsentRead:
    consent = await service.store_consent_form(
        session,
        principal=principal,
        subject_id=subject_id,
        consent_id=consent_id,
        form=form.file,
        size=form.size,
        max_bytes=settings.consent_form_max_bytes,
        store=store,
    )
    return consent_read(consent)


@router.get(
    "/{subject_id}/consents/{consent_id}/form", response_model=ConsentFormLink, responses=SUBJECT_NOT_FOUND
)
async def consent_form_link(
    subject_id: UUID, consent_id: UUID, store: Store, session: DbSession, principal: CurrentPrincipal
) -> ConsentFormLink:
    """A short-lived link to the scanned form; each one handed out is audited."""
    key = await service.consent_form_key(
        session, principal=principal, subject_id=subject_id, consent_id=consent_id
    )
    url = await store.presigned_get(key, expires=FORM_LINK_TTL)
    return ConsentFormLink(url=url, expires_in=int(FORM_LINK_TTL.total_seconds()))
