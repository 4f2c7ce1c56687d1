"""A subject's consents and their scanned forms (all 404 to outsiders)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, File, Query, UploadFile, status
from fastapi.responses import StreamingResponse
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession

from consent.consents import service
from consent.consents.schemas import ConsentCreate, ConsentFormLink, ConsentRead, consent_read
from consent.dependencies import SUBJECT_NOT_FOUND, AppSettings, Store

router = APIRouter(prefix="/subjects", tags=["subjects"])
FORM_READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    **SUBJECT_NOT_FOUND,
    410: {"description": "The consent was withdrawn: its form is no longer shared"},
}
_FORM_EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


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
    "/{subject_id}/consents/{consent_id}/form",
    response_model=ConsentFormLink,
    responses=FORM_READ_RESPONSES,
)
async def consent_form_link(
    subject_id: UUID, consent_id: UUID, settings: AppSettings, session: DbSession, principal: CurrentPrincipal
) -> ConsentFormLink:
    """Where to fetch the scanned form: the gateway-relative path of ``.../form/content``, which checks access
    on every request (a link kept stops working the moment the consent is withdrawn). Kept for clients of the
    presigned link this once answered; ``expires_in`` is always null."""
    path = await service.consent_form_path(
        session,
        principal=principal,
        public_path=settings.public_path,
        subject_id=subject_id,
        consent_id=consent_id,
    )
    return ConsentFormLink(url=path)


Disposition = Annotated[
    Literal["attachment", "inline"],
    Query(description="attachment (save the file, the default) or inline (show it in the browser)"),
]


@router.get(
    "/{subject_id}/consents/{consent_id}/form/content",
    responses=FORM_READ_RESPONSES,
    response_class=StreamingResponse,
)
async def consent_form_content(
    subject_id: UUID,
    consent_id: UUID,
    store: Store,
    session: DbSession,
    principal: CurrentPrincipal,
    disposition: Disposition = "attachment",
) -> StreamingResponse:
    """The scanned form itself, streamed from object storage after the care-team check; every fetch audited."""
    consent = await service.consent_form_for_download(
        session, principal=principal, subject_id=subject_id, consent_id=consent_id
    )
    assert consent.form_object_key is not None and consent.form_content_type is not None
    # The uploader's file name is not kept (the key is the server's), so the name says what it is.
    filename = f"consent-form.{_FORM_EXTENSIONS.get(consent.form_content_type, 'bin')}"
    return StreamingResponse(
        store.stream(consent.form_object_key),
        media_type=consent.form_content_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{filename}"',
            # Only PDF, JPEG and PNG are stored (sniffed on upload); the browser must not guess another type.
            "X-Content-Type-Options": "nosniff",
            # Access is decided per request (withdrawal, team changes): no copy may be answered from a cache.
            "Cache-Control": "no-store",
        },
    )
