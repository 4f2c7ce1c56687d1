"""Consent on a form (C2), kept in object storage, and reused rather than collected again (C3)."""

from __future__ import annotations

import asyncio
import io
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import text

from services.consent.tests.consent_support import registered_subject
from tests.support.stack import Stack, Staff

PDF = b"%PDF-1.7\n" + b"0" * 300_000 + b"\n%%EOF\n"  # large enough to be spooled, not held in one read
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 1000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1000


async def subject_with_consent(stack: Stack, staff: Staff, **consent: Any) -> tuple[UUID, dict[str, Any]]:
    subject_id = await registered_subject(stack, staff, name="同意 花子", name_kana="ドウイ ハナコ")
    given = await stack["consent"].client.post(
        f"/subjects/{subject_id}/consents",
        json={"given_on": str(date.today()), **consent},
        headers=staff.headers,
    )
    assert given.status_code == 201, given.text
    return subject_id, given.json()


async def upload(
    stack: Stack, staff: Staff, subject_id: UUID, consent_id: str, content: bytes, claimed: str
) -> httpx.Response:
    return await stack["consent"].client.put(
        f"/subjects/{subject_id}/consents/{consent_id}/form",
        files={"form": ("scan.bin", content, claimed)},
        headers=staff.headers,
    )


async def stored_object(stack: Stack, key: str) -> tuple[bytes, str]:
    store = stack["consent"].app.state.object_store

    def fetch() -> tuple[bytes, str]:
        response = store.client.get_object(store.bucket, key)
        try:
            return response.read(), response.headers.get("Content-Type", "")
        finally:
            response.close()
            response.release_conn()

    return await asyncio.to_thread(fetch)


async def consent_row(stack: Stack, consent_id: str) -> Any:
    async with stack["consent"].sessionmaker() as session:
        return (
            await session.execute(text("SELECT * FROM consents WHERE id = :c"), {"c": UUID(consent_id)})
        ).one()


class TestConsentForm:
    @pytest.mark.parametrize(
        ("content", "media_type"),
        [(PDF, "application/pdf"), (JPEG, "image/jpeg"), (PNG, "image/png")],
        ids=["pdf", "jpeg", "png"],
    )
    async def test_c2_scanned_form_is_stored_under_a_server_key_with_its_sniffed_type(
        self, stack: Stack, content: bytes, media_type: str
    ) -> None:
        doctor = stack.staff()
        subject_id, consent = await subject_with_consent(
            stack, doctor, given_by="proxy", proxy_name="同意 一郎", proxy_relation="長男"
        )
        # The client's claimed type is ignored: the bytes decide.
        response = await upload(stack, doctor, subject_id, consent["id"], content, "application/octet-stream")
        assert response.status_code == 200, response.text
        assert response.json()["form_on_file"] is True
        assert response.json()["form_content_type"] == media_type
        row = await consent_row(stack, consent["id"])
        assert row.form_object_key.startswith(f"demo/subjects/{subject_id}/consent-forms/")
        assert "scan.bin" not in row.form_object_key
        assert (row.given_by, row.proxy_name, row.proxy_relation) == ("proxy", "同意 一郎", "長男")
        assert (row.recorded_by, row.recorded_facility_id) == (doctor.user_id, doctor.facility_id)
        assert await stored_object(stack, row.form_object_key) == (content, media_type)

    async def test_c2_a_file_that_is_not_pdf_jpeg_or_png_is_415_and_nothing_is_stored(
        self, stack: Stack
    ) -> None:
        doctor = stack.staff()
        subject_id, consent = await subject_with_consent(stack, doctor)
        disguised = b"MZ\x90\x00 this is an executable, not a PDF"
        response = await upload(stack, doctor, subject_id, consent["id"], disguised, "application/pdf")
        assert response.status_code == 415, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert (await consent_row(stack, consent["id"])).form_object_key is None
        store = stack["consent"].app.state.object_store
        stored = await asyncio.to_thread(
            lambda: list(
                store.client.list_objects(store.bucket, prefix=f"demo/subjects/{subject_id}/", recursive=True)
            )
        )
        assert stored == []

    async def test_c2_a_form_over_the_size_limit_is_413_and_nothing_is_stored(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id, consent = await subject_with_consent(stack, doctor)
        settings = stack["consent"].app.state.settings
        limit = settings.consent_form_max_bytes
        settings.consent_form_max_bytes = len(PDF) - 1
        try:
            response = await upload(stack, doctor, subject_id, consent["id"], PDF, "application/pdf")
        finally:
            settings.consent_form_max_bytes = limit
        assert response.status_code == 413, response.text
        assert (await consent_row(stack, consent["id"])).form_object_key is None

    async def test_c2_a_form_on_file_is_never_replaced(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id, consent = await subject_with_consent(stack, doctor)
        assert (
            await upload(stack, doctor, subject_id, consent["id"], PDF, "application/pdf")
        ).status_code == 200
        key = (await consent_row(stack, consent["id"])).form_object_key
        second = await upload(stack, doctor, subject_id, consent["id"], PNG, "image/png")
        assert second.status_code == 409 and second.json()["type"] == "urn:yui:problem:form-already-on-file"
        assert (await consent_row(stack, consent["id"])).form_object_key == key


async def audited_form_reads(stack: Stack, subject_id: UUID) -> int:
    async with stack["consent"].sessionmaker() as session:
        return (
            await session.execute(
                text("SELECT count(*) FROM audit_log WHERE action = 'consent.form.read' AND subject_id = :s"),
                {"s": str(subject_id)},
            )
        ).scalar_one()


class TestConsentFormDownload:
    async def test_sec2_the_form_is_streamed_through_the_api_never_as_a_presigned_store_url(
        self, stack: Stack
    ) -> None:
        doctor = stack.staff()
        subject_id, consent = await subject_with_consent(stack, doctor)
        assert (
            await upload(stack, doctor, subject_id, consent["id"], PDF, "application/pdf")
        ).status_code == 200
        form = f"/subjects/{subject_id}/consents/{consent['id']}/form"

        link = await stack["consent"].client.get(form, headers=doctor.headers)
        assert link.status_code == 200, link.text
        # The gateway-relative path of the streaming route: no storage host, no signature to leak or keep.
        assert link.json() == {"url": f"/api/consent{form}/content", "expires_in": None}
        assert "X-Amz" not in link.text and "://" not in link.text
        assert await audited_form_reads(stack, subject_id) == 0  # handing out the path reads nothing

        for disposition in ("attachment", "inline"):
            content = await stack["consent"].client.get(
                f"{form}/content", params={"disposition": disposition}, headers=doctor.headers
            )
            assert content.status_code == 200, content.text
            assert content.content == PDF
            assert content.headers["content-type"] == "application/pdf"
            assert content.headers["content-disposition"] == f'{disposition}; filename="consent-form.pdf"'
            assert content.headers["cache-control"] == "no-store"
            assert content.headers["x-content-type-options"] == "nosniff"
        assert await audited_form_reads(stack, subject_id) == 2  # every fetch, not every link

    async def test_sec2_after_withdrawal_the_form_link_and_content_are_refused(self, stack: Stack) -> None:
        doctor = stack.staff()
        subject_id, consent = await subject_with_consent(stack, doctor)
        assert (await upload(stack, doctor, subject_id, consent["id"], PNG, "image/png")).status_code == 200
        form = f"/subjects/{subject_id}/consents/{consent['id']}/form"
        kept = (await stack["consent"].client.get(form, headers=doctor.headers)).json()["url"]
        assert (
            await stack["consent"].client.get(f"{form}/content", headers=doctor.headers)
        ).status_code == 200
        reads = await audited_form_reads(stack, subject_id)

        withdrawn = await stack["consent"].client.post(
            f"/subjects/{subject_id}/withdrawals", json={"requested_by": "subject"}, headers=doctor.headers
        )
        assert withdrawn.status_code == 201, withdrawn.text

        # The link kept from before (its path, minus the gateway prefix) and a new one are both refused.
        for response in (
            await stack["consent"].client.get(kept.removeprefix("/api/consent"), headers=doctor.headers),
            await stack["consent"].client.get(form, headers=doctor.headers),
        ):
            assert response.status_code == 410, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["type"] == "urn:yui:problem:support-stopped"
            assert PNG not in response.content
        assert await audited_form_reads(stack, subject_id) == reads  # a refusal reads nothing


class TestConsentReuse:
    async def test_c3_a_facility_joining_reuses_the_consent_on_file_and_cannot_collect_another(
        self, stack: Stack
    ) -> None:
        clinic, pharmacy = stack.staff(), stack.staff()
        subject_id, consent = await subject_with_consent(stack, clinic)
        invited = await stack["consent"].client.post(
            f"/subjects/{subject_id}/care-team",
            json={"user_id": str(pharmacy.user_id)},
            headers=clinic.headers,
        )
        joined = await stack["consent"].client.post(
            f"/care-team/invitations/{invited.json()['id']}/accept", headers=pharmacy.headers
        )
        assert joined.status_code == 200, joined.text
        on_file = joined.json()["consent_on_file"]
        assert on_file["id"] == consent["id"]
        assert on_file["recorded_facility_id"] == str(clinic.facility_id)
        assert joined.json()["member"]["facility_id"] == str(pharmacy.facility_id)

        again = await stack["consent"].client.post(
            f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=pharmacy.headers
        )
        assert again.status_code == 409
        assert again.json()["consent_id"] == consent["id"]
        listed = await stack["consent"].client.get(
            f"/subjects/{subject_id}/consents", headers=pharmacy.headers
        )
        assert [c["id"] for c in listed.json()] == [consent["id"]]
        async with stack["consent"].sessionmaker() as session:
            reused = (
                await session.execute(
                    text(
                        "SELECT detail->>'consent_reused' FROM audit_log "
                        "WHERE action = 'care_team.join' AND subject_id = :s"
                    ),
                    {"s": str(subject_id)},
                )
            ).scalar_one()
        assert reused == consent["id"]


class TestStorageStartsLate:
    async def test_c2_a_bucket_missing_because_storage_was_down_at_startup_is_made_on_first_upload(
        self, stack: Stack
    ) -> None:
        from consent.consents import service
        from yui_common.auth import Principal
        from yui_common.storage import ObjectStore

        doctor = stack.staff()
        subject_id, consent = await subject_with_consent(stack, doctor)
        fresh = ObjectStore(stack["consent"].settings, bucket=f"yui-cns-late-{uuid4().hex[:12]}")
        who = Principal(user_id=doctor.user_id, tenant=doctor.tenant, facility_id=doctor.facility_id)
        async with stack["consent"].sessionmaker() as session, session.begin():
            stored = await service.store_consent_form(
                session,
                principal=who,
                subject_id=subject_id,
                consent_id=UUID(consent["id"]),
                form=io.BytesIO(PNG),
                size=len(PNG),
                max_bytes=len(PNG),
                store=fresh,
            )
        assert stored.form_object_key is not None
        content = await asyncio.to_thread(
            lambda: fresh.client.get_object(fresh.bucket, stored.form_object_key).read()
        )
        assert content == PNG

        def clean_up() -> None:
            fresh.client.remove_object(fresh.bucket, stored.form_object_key)
            fresh.client.remove_bucket(fresh.bucket)

        await asyncio.to_thread(clean_up)
