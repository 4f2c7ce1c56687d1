"""t7 attachments: streamed into object storage, typed by content, limited per network, safe names and
downloads through the API; the access-control matrix over attachments (non-members 404, a download link checked
on every request)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from uuid import UUID

import httpx
import pytest
from PIL import Image
from sqlalchemy import text
from timeline.access import service as access
from timeline.settings import NetworkPolicy

from services.timeline.tests.timeline_support import (
    ELF,
    PDF,
    WINDOWS_EXE,
    assert_problem,
    create_post,
    png_bytes,
    subject_with_team,
)
from tests.support.stack import Stack, Staff, eventually


async def upload(
    stack: Stack, staff: Staff, subject_id: UUID, content: object, filename: str
) -> httpx.Response:
    return await stack["timeline"].client.post(
        f"/subjects/{subject_id}/attachments",
        params={"filename": filename},
        content=content,  # type: ignore[arg-type]
        headers={**staff.headers, "Content-Type": "application/octet-stream"},
    )


async def stored_objects(stack: Stack, prefix: str) -> list[str]:
    store = stack["timeline"].app.state.object_store

    def names() -> list[str]:
        return [o.object_name for o in store.client.list_objects(store.bucket, prefix=prefix, recursive=True)]

    return await asyncio.to_thread(names)


async def attachment_rows(stack: Stack, subject_id: UUID) -> int:
    async with stack["timeline"].sessionmaker() as session:
        count = await session.execute(
            text("SELECT count(*) FROM attachments WHERE subject_id = :s"), {"s": subject_id}
        )
        return int(count.scalar() or 0)


class TestT7Uploads:
    async def test_t7_an_image_is_stored_hashed_signed_thumbnailed_and_downloaded_safely(
        self, stack: Stack
    ) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        client = stack["timeline"].client
        image = png_bytes()
        uploaded = await upload(stack, nurse, subject_id, image, "褥瘡 写真.png")
        assert uploaded.status_code == 201, uploaded.text
        attachment = uploaded.json()
        assert attachment["content_type"] == "image/png"
        assert attachment["has_thumbnail"] is True and attachment["post_id"] is None
        [key] = [
            k for k in await stored_objects(stack, f"demo/subjects/{subject_id}/") if not k.endswith(".jpg")
        ]
        assert key == f"demo/subjects/{subject_id}/{attachment['id']}"  # the server's key, never the name

        post = await create_post(
            stack, nurse, subject_id, "写真を添付します", attachment_ids=[attachment["id"]]
        )
        assert [a["id"] for a in post["attachments"]] == [attachment["id"]]
        again = await client.post(
            f"/subjects/{subject_id}/posts",
            json={"body": "x", "attachment_ids": [attachment["id"]]},
            headers=nurse.headers,
        )
        assert_problem(again, 422, "unknown-attachment")

        link = (await client.get(f"/attachments/{attachment['id']}/download", headers=doctor.headers)).json()
        assert link == {"url": f"/api/timeline/attachments/{attachment['id']}/content", "expires_at": None}
        streamed = await client.get(f"/attachments/{attachment['id']}/content", headers=doctor.headers)
        # Stored re-encoded (without metadata): the same pixels, and the row describes the stored bytes.
        assert Image.open(io.BytesIO(streamed.content)).tobytes() == Image.open(io.BytesIO(image)).tobytes()
        assert attachment["size"] == len(streamed.content)
        assert attachment["content_sha256"] == hashlib.sha256(streamed.content).hexdigest()
        assert streamed.headers["content-disposition"].startswith('attachment; filename="')
        assert "filename*=UTF-8''%E8%A4%A5" in streamed.headers["content-disposition"]
        assert streamed.headers["x-content-type-options"] == "nosniff"
        thumbnail = await client.get(f"/attachments/{attachment['id']}/thumbnail", headers=doctor.headers)
        assert thumbnail.content.startswith(b"\xff\xd8\xff") and len(thumbnail.content) < len(image)

        verified = (await client.get(f"/posts/{post['id']}/verify", headers=doctor.headers)).json()
        assert verified["intact"] is True
        assert verified["attachments"] == [
            {"id": attachment["id"], "signature_valid": True, "stored_object_matches": True}
        ]

    async def test_t7_a_streamed_upload_without_length_and_office_and_pdf_files_are_accepted(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        block = PDF + b"%" * (1024 * 1024)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(3):  # 3 MiB in pieces, sent chunked: no Content-Length
                yield block[: len(block) // 2]
                yield block[len(block) // 2 :]

        uploaded = await upload(stack, nurse, subject_id, chunks(), "検査結果.pdf")
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["size"] == 3 * len(block)
        assert uploaded.json()["content_sha256"] == hashlib.sha256(block * 3).hexdigest()
        docx = io.BytesIO()
        with zipfile.ZipFile(docx, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("word/document.xml", "<document/>")
        office = await upload(stack, nurse, subject_id, docx.getvalue(), "指示書.docx")
        assert office.json()["content_type"].endswith("wordprocessingml.document")

    @pytest.mark.parametrize(
        ("content", "filename", "status", "slug"),
        [
            (WINDOWS_EXE, "report.pdf", 415, "unsupported-content"),
            (ELF, "photo.jpg", 415, "unsupported-content"),
            (
                b"PK\x03\x04" + b"\x00" * 22 + b"\x07\x00\x00\x00evil.sh#!/bin/sh",
                "a.docx",
                415,
                "unsupported-content",
            ),
            ("ただのテキスト".encode(), "memo.txt", 415, "unsupported-content"),
            (b"\xff\xd8\xff\xe0" + b"\x00" * 300, "photo.jpg", 422, "unreadable-image"),
            (PDF, "../../etc/passwd.pdf", 422, "bad-filename"),
            (PDF, "..\\..\\boot.pdf", 422, "bad-filename"),
            (PDF, "dir/report.pdf", 422, "bad-filename"),
            (PDF, "report\u202efdp.exe", 422, "bad-filename"),
            (PDF, "report\x00.pdf", 422, "bad-filename"),
            (PDF, ".htaccess", 422, "bad-filename"),
            (b"", "empty.pdf", 422, "empty-file"),
        ],
        ids=[
            "renamed-exe",
            "renamed-elf",
            "plain-zip",
            "text",
            "damaged-image",
            "dotdot",
            "backslash",
            "folder",
            "rtl-override",
            "nul",
            "hidden",
            "empty",
        ],
    )
    async def test_t7_refused_uploads_answer_a_problem_and_store_nothing(
        self, stack: Stack, content: bytes, filename: str, status: int, slug: str
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        assert_problem(await upload(stack, nurse, subject_id, content, filename), status, slug)
        assert await stored_objects(stack, f"demo/subjects/{subject_id}/") == []
        assert await attachment_rows(stack, subject_id) == 0

    async def test_t7_an_upload_over_the_networks_limit_is_refused_and_nothing_stays(
        self, stack: Stack
    ) -> None:
        settings = stack["timeline"].app.state.settings
        settings.network_policies["tiny-network"] = NetworkPolicy(max_upload_bytes=64 * 1024)
        nurse = stack.staff(tenant="tiny-network")
        subject_id = await subject_with_team(stack, nurse)
        big = PDF + b"0" * (3 * 1024 * 1024)

        declared = await upload(stack, nurse, subject_id, big, "big.pdf")
        assert assert_problem(declared, 413, "payload-too-large")["max_bytes"] == 64 * 1024

        async def undeclared() -> AsyncIterator[bytes]:
            for offset in range(0, len(big), 256 * 1024):
                yield big[offset : offset + 256 * 1024]

        assert_problem(
            await upload(stack, nurse, subject_id, undeclared(), "big.pdf"), 413, "payload-too-large"
        )
        assert await stored_objects(stack, f"tiny-network/subjects/{subject_id}/") == []
        assert await attachment_rows(stack, subject_id) == 0
        small = await upload(stack, nurse, subject_id, PDF, "small.pdf")
        assert small.status_code == 201


class TestAccessMatrixAttachments:
    async def test_outsiders_get_404_and_cannot_upload(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        attachment = (await upload(stack, nurse, subject_id, png_bytes(), "a.png")).json()
        await create_post(stack, nurse, subject_id, "添付", attachment_ids=[attachment["id"]])
        client = stack["timeline"].client
        for outsider in (stack.staff(), stack.staff(tenant="other-network", user_id=nurse.user_id)):
            for route in ("", "/download", "/content", "/thumbnail"):
                response = await client.get(
                    f"/attachments/{attachment['id']}{route}", headers=outsider.headers
                )
                assert_problem(response, 404, "not-found")
            assert_problem(await upload(stack, outsider, subject_id, PDF, "x.pdf"), 404, "not-found")

    async def test_a_teammates_unattached_upload_is_not_reachable(self, stack: Stack) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        pending = (await upload(stack, nurse, subject_id, PDF, "draft.pdf")).json()
        response = await stack["timeline"].client.get(f"/attachments/{pending['id']}", headers=doctor.headers)
        assert_problem(response, 404, "not-found")
        used = await stack["timeline"].client.post(
            f"/subjects/{subject_id}/posts",
            json={"body": "x", "attachment_ids": [pending["id"]]},
            headers=doctor.headers,
        )
        assert_problem(used, 422, "unknown-attachment")

    async def test_a_download_link_stops_working_when_its_holder_leaves_the_care_team(
        self, stack: Stack
    ) -> None:
        nurse, doctor = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse, doctor)
        client = stack["timeline"].client
        attachment = (await upload(stack, nurse, subject_id, PDF, "a.pdf")).json()
        await create_post(stack, nurse, subject_id, "添付", attachment_ids=[attachment["id"]])
        link = (await client.get(f"/attachments/{attachment['id']}/download", headers=doctor.headers)).json()
        path = link["url"].removeprefix(
            "/api/timeline"
        )  # the gateway's prefix; here the app is called directly
        inline = await client.get(path, params={"disposition": "inline"}, headers=doctor.headers)
        assert inline.content == PDF and inline.headers["content-disposition"].startswith("inline;")
        assert inline.headers["cache-control"] == "no-store"
        async with stack["timeline"].sessionmaker() as session, session.begin():
            await access.care_team_member_removed(session, subject_id=subject_id, user_id=doctor.user_id)
        assert_problem(await client.get(path, headers=doctor.headers), 404, "not-found")
        assert (await client.get(path, headers=nurse.headers)).status_code == 200


class TestUploadThatNeverCommits:
    async def test_t7_when_the_commit_fails_after_the_bytes_are_stored_the_bytes_are_removed(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        # The database refuses this one row only at COMMIT (a deferred constraint trigger): by then the bytes
        # and the thumbnail are in object storage.
        async with stack["timeline"].sessionmaker() as session, session.begin():
            await session.execute(
                text(
                    "CREATE OR REPLACE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    "BEGIN IF NEW.filename = 'refused-at-commit.png' THEN "
                    "RAISE EXCEPTION 'refused at commit'; END IF; RETURN NEW; END $$"
                )
            )
            await session.execute(
                text(
                    "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON attachments "
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()"
                )
            )
        try:
            refused = await upload(stack, nurse, subject_id, png_bytes(), "refused-at-commit.png")
            assert refused.status_code >= 500
            assert refused.headers["content-type"].startswith("application/problem+json")

            async def storage_empty() -> bool:
                return await stored_objects(stack, f"demo/subjects/{subject_id}/") == []

            await eventually(storage_empty, what="the uncommitted upload's objects to be removed")
            assert await attachment_rows(stack, subject_id) == 0
            # The same subject still takes uploads that commit, and keeps their bytes.
            kept = await upload(stack, nurse, subject_id, png_bytes(), "kept.png")
            assert kept.status_code == 201, kept.text
            assert len(await stored_objects(stack, f"demo/subjects/{subject_id}/")) == 2  # file + thumbnail
        finally:
            async with stack["timeline"].sessionmaker() as session, session.begin():
                await session.execute(text("DROP TRIGGER refuse_at_commit ON attachments"))
                await session.execute(text("DROP FUNCTION refuse_at_commit()"))
