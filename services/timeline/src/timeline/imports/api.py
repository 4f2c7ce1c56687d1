"""Imported hospital letters' routes: import a FHIR document Bundle, list a subject's letters, read one, and
accept or decline each of its offers."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request, status
from yui_common.auth import CurrentPrincipal
from yui_common.db import DbSession
from yui_common.problems import Problem

from timeline.access.service import Board, board_for
from timeline.dependencies import Signer, subject_board
from timeline.imports import service
from timeline.imports.schemas import ImportList, ImportRead, OfferRead

router = APIRouter(tags=["imports"])
MAX_BUNDLE_BYTES = 5 * 1024 * 1024  # a letter with its resources is tens of kilobytes; 200 entries under 1 MB
MEDIA_TYPES = ("application/fhir+json", "application/json")
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such subject (or letter, or offer), or not on its care team"},
    410: {"description": "Support stopped: consent was withdrawn"},
}
BUNDLE_BODY = {
    "requestBody": {
        "required": True,
        "description": "A FHIR R4 document Bundle: JP-CLINS 退院時サマリー (LOINC 18842-5) or 診療情報提供書 "
        "(57133-1), its Composition first",
        "content": {t: {"schema": {"type": "object"}} for t in MEDIA_TYPES},
    }
}


def _too_large() -> Problem:
    return Problem(
        413,
        "payload-too-large",
        "Too large",
        f"文書が大きすぎます（上限 {MAX_BUNDLE_BYTES // (1024 * 1024)} MB）。 / "
        f"The Bundle is larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MB.",
    )


async def _bundle_of(request: Request) -> Any:
    """The request body as JSON, read no further than the limit."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in MEDIA_TYPES:
        raise Problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "FHIR JSON (application/fhir+json) で送ってください。 / Send the Bundle as application/fhir+json.",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BUNDLE_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BUNDLE_BYTES:
            raise _too_large()
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as broken:
        reason = f"Not JSON: {broken}" if isinstance(broken, ValueError) else "Not JSON: nested too deeply"
        raise Problem(422, "bundle-invalid", "Not a letter Yui can import", reason, reason=reason) from None


@router.post(
    "/subjects/{subject_id}/imports",
    status_code=status.HTTP_201_CREATED,
    response_model=ImportRead,
    openapi_extra=BUNDLE_BODY,
    responses={
        **RESPONSES,
        409: {"description": "This Bundle was already imported for the subject (or no consent yet)"},
        413: {"description": "Larger than 5 MB"},
        415: {"description": "Not sent as FHIR JSON"},
        422: {"description": "Not a letter Yui takes: bundle-invalid, the validator's reason in detail"},
    },
)
async def import_letter(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    signer: Signer,
    on: Board = Depends(subject_board),
    patient_mismatch_confirmed: bool = False,
) -> ImportRead:
    """Import a hospital letter: kept as received, shown on the timeline as a readable post (category
    treatment), its medications, allergies and problems offered one by one. ``patient_mismatch_confirmed``
    says the uploader was told the letter's patient did not look like the subject (the staff UI compares
    names and birth date) and imported it anyway: the audit entry keeps that."""
    # The care team first: an outsider learns nothing, not even what the body would have been told. Not held
    # while the body arrives (a slow upload must not delay a withdrawal): the service holds it to write.
    board = await board_for(session, principal, on, write=True)
    document = await _bundle_of(request)
    return await service.import_letter(
        session,
        principal=principal,
        signer=signer,
        board=board,
        document=document,
        patient_mismatch_confirmed=patient_mismatch_confirmed,
    )


@router.get("/subjects/{subject_id}/imports", response_model=ImportList, responses=RESPONSES)
async def list_imports(
    session: DbSession, principal: CurrentPrincipal, on: Board = Depends(subject_board)
) -> ImportList:
    """The subject's imported letters, newest first, with their offers counted."""
    return await service.listing(session, principal=principal, board=on)


@router.get("/subjects/{subject_id}/imports/{import_id}", response_model=ImportRead, responses=RESPONSES)
async def read_import(
    import_id: UUID, session: DbSession, principal: CurrentPrincipal, on: Board = Depends(subject_board)
) -> ImportRead:
    """One letter: its sections as text and its offers with who decided each and when."""
    return await service.one(session, principal=principal, board=on, import_id=import_id)


DECISION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **RESPONSES,
    409: {
        "description": "offer-decided (already accepted or declined), medication-already-imported, "
        "summary-changed or summary-full"
    },
}


@router.post(
    "/subjects/{subject_id}/imports/{import_id}/offers/{index}/accept",
    response_model=OfferRead,
    responses=DECISION_RESPONSES,
)
async def accept_offer(
    import_id: UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    signer: Signer,
    index: int = Path(ge=0, le=10_000),
    on: Board = Depends(subject_board),
) -> OfferRead:
    """A medication onto the list, an allergy or a problem into the summary (a new version)."""
    return await service.decide(
        session, principal=principal, signer=signer, board=on, import_id=import_id, index=index, accept=True
    )


@router.post(
    "/subjects/{subject_id}/imports/{import_id}/offers/{index}/decline",
    response_model=OfferRead,
    responses=DECISION_RESPONSES,
)
async def decline_offer(
    import_id: UUID,
    session: DbSession,
    principal: CurrentPrincipal,
    signer: Signer,
    index: int = Path(ge=0, le=10_000),
    on: Board = Depends(subject_board),
) -> OfferRead:
    """Not taken: the offer stays on the letter as declined, with who decided and when."""
    return await service.decide(
        session, principal=principal, signer=signer, board=on, import_id=import_id, index=index, accept=False
    )
