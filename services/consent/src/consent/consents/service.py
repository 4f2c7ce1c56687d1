"""Consents (C2, C3): giving one, reading them, and the scanned form kept as evidence. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import BinaryIO
from uuid import UUID

import urllib3
from minio.error import S3Error
from sqlalchemy.ext.asyncio import AsyncSession
from uuid6 import uuid7
from yui_common import outbox
from yui_common.auth import Principal
from yui_common.events.consent import ConsentGivenV1
from yui_common.problems import Problem, conflict, not_found
from yui_common.storage import ObjectStore

from consent import lifecycle
from consent.access import audit_subject, visible_subject
from consent.consents import repository
from consent.models import Consent
from consent.subjects.changes import ACTIVE, set_subject_status


async def give_consent(
    session: AsyncSession,
    *,
    principal: Principal,
    subject_id: UUID,
    given_by: str,
    proxy_name: str | None,
    proxy_relation: str | None,
    given_on: date,
) -> Consent:
    """C2: record a new consent (never revives a withdrawn one); an active one is reused instead (C3)."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    if given_by == "proxy" and not (proxy_name and proxy_relation):
        raise Problem(
            422,
            "proxy-required",
            "Proxy details missing",
            "Consent given by a proxy needs the proxy's name and relation.",
        )
    active = await repository.active_consent(session, subject_id=subject.id, lock=True)
    if active is not None:
        raise Problem(
            409,
            "consent-already-active",
            "Conflict",
            "The subject already has an active consent; it is reused, not collected again.",
            consent_id=str(active.id),
        )
    consent = Consent(
        id=uuid7(),
        tenant=subject.tenant,
        subject_id=subject.id,
        status=lifecycle.ConsentStatus.ACTIVE,
        given_by=given_by,
        proxy_name=proxy_name if given_by == "proxy" else None,
        proxy_relation=proxy_relation if given_by == "proxy" else None,
        recorded_by=principal.user_id,
        recorded_facility_id=principal.facility_id,
        given_on=given_on,
    )
    session.add(consent)
    await session.flush()
    await session.refresh(consent)
    await outbox.add_event(
        session,
        ConsentGivenV1(subject_id=subject.id, consent_id=consent.id, given_at=consent.recorded_at),
        tenant=subject.tenant,
        subject=str(subject.id),
    )
    # Consent given again after a withdrawal: support resumes (timeline opens the subject again too).
    await set_subject_status(session, subject, ACTIVE)
    await audit_subject(session, principal, "consent.give", subject.id, consent=str(consent.id))
    return consent


async def consents_of(session: AsyncSession, *, principal: Principal, subject_id: UUID) -> Sequence[Consent]:
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    consents = await repository.consents_of(session, subject_id=subject.id)
    await audit_subject(session, principal, "consent.read", subject.id)
    return consents


async def store_consent_form(
    session: AsyncSession,
    *,
    principal: Principal,
    subject_id: UUID,
    consent_id: UUID,
    form: BinaryIO,
    size: int | None,
    max_bytes: int,
    store: ObjectStore,
) -> Consent:
    """C2: keep the scanned form (PDF, JPEG or PNG by its first bytes) under a key the server chooses."""
    subject = await visible_subject(session, principal=principal, subject_id=subject_id)
    consent = await repository.consent_of_subject(
        session, subject_id=subject.id, consent_id=consent_id, lock=True
    )
    if consent is None:
        raise not_found("consent")
    if consent.form_object_key is not None:
        # A form on file is evidence: it is never replaced, so what was signed stays what is shown.
        raise conflict("This consent already has its form on file.", "form-already-on-file")
    if size is not None and size > max_bytes:
        raise Problem(
            413, "payload-too-large", "Form too large", f"A consent form may be at most {max_bytes} bytes."
        )
    content_type = sniff_form_type(form.read(16))
    form.seek(0)
    if content_type is None:
        raise Problem(
            415, "unsupported-media-type", "Not a PDF, JPEG or PNG", "Scan the form as PDF, JPEG or PNG."
        )
    key = f"{subject.tenant}/subjects/{subject.id}/consent-forms/{uuid7()}"
    await _put_form(store, key, form, content_type)
    consent.form_object_key = key
    consent.form_content_type = content_type
    consent.form_size = size
    consent.form_uploaded_at = datetime.now(UTC)
    await audit_subject(session, principal, "consent.form.store", subject.id, consent=str(consent.id))
    return consent


async def _put_form(store: ObjectStore, key: str, form: BinaryIO, content_type: str) -> None:
    try:
        try:
            await store.put_stream(key, form, content_type=content_type)
        except S3Error as error:
            if error.code != "NoSuchBucket":
                raise
            # The API started while the store was unreachable, so its bucket was not made then: make it now.
            await store.ensure_bucket()
            form.seek(0)
            await store.put_stream(key, form, content_type=content_type)
    except (S3Error, urllib3.exceptions.HTTPError) as error:
        raise Problem(
            503, "unavailable", "Storage unavailable", "The form could not be stored; try again."
        ) from error


_FORM_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


def sniff_form_type(head: bytes) -> str | None:
    """The media type the file's own first bytes show, whatever the client claimed."""
    return next((kind for magic, kind in _FORM_SIGNATURES if head.startswith(magic)), None)


def _form_withdrawn() -> Problem:
    return Problem(
        410,
        "support-stopped",
        "Support stopped",
        "Consent was withdrawn; its form is no longer shared (支援中止).",
    )


async def _readable_form(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, consent_id: UUID
) -> Consent:
    """The consent whose form the caller may read now: care team (or an exceptional grant), form on file,
    consent not withdrawn. Checked on every request, so a link kept after withdrawal stops working (C4)."""
    subject = await visible_subject(
        session, principal=principal, subject_id=subject_id, exceptional_read=True
    )
    consent = await repository.consent_of_subject(session, subject_id=subject.id, consent_id=consent_id)
    if consent is None or consent.form_object_key is None:
        raise not_found("consent form")
    if consent.status != lifecycle.ConsentStatus.ACTIVE:
        raise _form_withdrawn()
    return consent


async def consent_form_path(
    session: AsyncSession, *, principal: Principal, public_path: str, subject_id: UUID, consent_id: UUID
) -> str:
    """The gateway-relative path of the form's streaming route, for a caller who may read it now. Handing out
    the path reads nothing, so it is not audited (each fetch of the content is)."""
    consent = await _readable_form(session, principal=principal, subject_id=subject_id, consent_id=consent_id)
    return f"{public_path.rstrip('/')}/subjects/{consent.subject_id}/consents/{consent.id}/form/content"


async def consent_form_for_download(
    session: AsyncSession, *, principal: Principal, subject_id: UUID, consent_id: UUID
) -> Consent:
    """The consent whose form is about to be streamed to the caller; every fetch is audited."""
    consent = await _readable_form(session, principal=principal, subject_id=subject_id, consent_id=consent_id)
    await audit_subject(session, principal, "consent.form.read", consent.subject_id, consent=str(consent.id))
    return consent
