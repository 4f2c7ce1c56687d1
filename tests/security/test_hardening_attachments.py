"""sec2 for issue 14's findings 4, 5, 7 and 9: photos' metadata, downloads around the gateway, decompression and
disguised files, and 404 bodies that tell an outsider what exists."""

from __future__ import annotations

import asyncio
import hashlib
import io
import struct
import zipfile
import zlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from PIL import Image
from sqlalchemy import text
from timeline.access import service as access
from uuid6 import uuid7
from yui_common.events.consent import ConsentWithdrawnV1

from services.timeline.tests.timeline_support import (
    PDF,
    assert_problem,
    create_post,
    group_with_members,
    png_bytes,
    subject_with_team,
)
from tests.support import gateway as gateway_fixtures
from tests.support.gateway import Gateway, client_for
from tests.support.stack import Stack, Staff

gateway = gateway_fixtures.gateway  # the shared session fixture (one started gateway per pytest worker)

GPS_IFD = 0x8825
ORIENTATION = 0x0112


async def upload(
    stack: Stack, staff: Staff, subject_id: UUID, content: bytes, filename: str
) -> httpx.Response:
    return await stack["timeline"].client.post(
        f"/subjects/{subject_id}/attachments",
        params={"filename": filename},
        content=content,
        headers={**staff.headers, "Content-Type": "application/octet-stream"},
    )


async def nothing_stored(stack: Stack, subject_id: UUID) -> None:
    store = stack["timeline"].app.state.object_store

    def names() -> list[str]:
        prefix = f"demo/subjects/{subject_id}/"
        return [o.object_name for o in store.client.list_objects(store.bucket, prefix=prefix, recursive=True)]

    assert await asyncio.to_thread(names) == []
    async with stack["timeline"].sessionmaker() as session:
        rows = await session.execute(
            text("SELECT count(*) FROM attachments WHERE subject_id = :s"), {"s": subject_id}
        )
        assert rows.scalar() == 0


# ---------------------------------------------------------------- finding 4: photos keep their EXIF


def photo_with_gps(orientation: int = 6) -> bytes:
    """A 40 × 20 JPEG as a phone writes it: camera, GPS position, and 'rotate 90° to display' (6)."""
    image = Image.new("RGB", (40, 20), (200, 80, 40))
    image.paste((20, 40, 200), (0, 0, 10, 20))  # a blue band on the left, to see where it ends up
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 15"
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=95)
    return out.getvalue()


def png_with_metadata() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "自宅 東京都古河市1-2-3")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta><exif:GPSLatitude>35,41N</exif:GPSLatitude></x:xmpmeta>")
    exif = Image.Exif()
    exif[GPS_IFD] = {1: "N", 2: (35.0, 41.0, 22.0)}
    out = io.BytesIO()
    Image.new("RGBA", (30, 30), (10, 200, 10, 128)).save(out, "PNG", pnginfo=info, exif=exif.tobytes())
    return out.getvalue()


class TestPhotosWithoutMetadata:
    async def test_sec2_a_photo_is_stored_without_exif_or_gps_and_upright(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        photo = photo_with_gps()
        assert Image.open(io.BytesIO(photo)).getexif().get(GPS_IFD) is not None  # the sample carries it
        uploaded = await upload(stack, nurse, subject_id, photo, "IMG_0001.JPG")
        assert uploaded.status_code == 201, uploaded.text
        attachment = uploaded.json()
        stored = await stack["timeline"].client.get(
            f"/attachments/{attachment['id']}/content", headers=nurse.headers
        )
        assert stored.status_code == 200
        cleaned = Image.open(io.BytesIO(stored.content))
        assert cleaned.format == "JPEG"
        assert dict(cleaned.getexif()) == {} and b"Exif" not in stored.content
        assert b"PhoneMaker" not in stored.content
        # Orientation 6 applied: 40 × 20 became 20 × 40, the blue band moved from the left to the top.
        assert cleaned.size == (20, 40)
        red, _, blue = cleaned.convert("RGB").getpixel((10, 2))  # type: ignore[misc]
        assert blue > 150 and red < 100
        # What the row says was stored is what is stored (the size and hash of the cleaned bytes).
        assert attachment["size"] == len(stored.content)
        assert attachment["content_sha256"] == hashlib.sha256(stored.content).hexdigest()

    async def test_sec2_a_png_stays_png_without_its_text_and_exif_chunks(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        uploaded = await upload(stack, nurse, subject_id, png_with_metadata(), "screen.png")
        assert uploaded.status_code == 201, uploaded.text
        stored = await stack["timeline"].client.get(
            f"/attachments/{uploaded.json()['id']}/content", headers=nurse.headers
        )
        cleaned = Image.open(io.BytesIO(stored.content))
        assert cleaned.format == "PNG" and cleaned.size == (30, 30) and cleaned.mode == "RGBA"
        assert cleaned.getpixel((5, 5)) == (10, 200, 10, 128)  # lossless
        for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf"):
            assert chunk not in stored.content


# ---------------------------------------------------------------- finding 7: decompression and disguised files


def huge_png(width: int = 13_000, height: int = 13_000) -> bytes:
    """A grey PNG of width × height pixels that weighs a few hundred KB: rows of zeros compress ~1000:1."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + one byte per pixel
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def office_zip(members: dict[str, bytes], *, kind: str = "word") -> bytes:
    """An OOXML document as Office writes it ([Content_Types].xml first) with extra members."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr(f"{kind}/document.xml", '<?xml version="1.0"?><document/>')
        archive.writestr("docProps/core.xml", '<?xml version="1.0"?><coreProperties/>')
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


class TestDecompressionAndDisguise:
    async def test_sec2_an_image_over_the_pixel_limit_is_refused_before_decoding(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        bomb = huge_png()
        assert len(bomb) < 600_000  # small on the wire, 169 megapixels decoded
        refused = await upload(stack, nurse, subject_id, bomb, "scan.png")
        body = assert_problem(refused, 422, "image-too-large")
        assert body["max_pixels"] == stack["timeline"].settings.max_image_pixels  # type: ignore[attr-defined]
        await nothing_stored(stack, subject_id)

    @pytest.mark.parametrize(
        ("content", "filename"),
        [
            (photo_with_gps(1), "photo.html"),
            (png_bytes(20, 20), "image.svg"),
            (PDF, "report.exe"),
            (PDF, "report"),
            (office_zip({}), "report.xlsx"),
        ],
        ids=["jpeg-as-html", "png-as-svg", "pdf-as-exe", "no-extension", "docx-as-xlsx"],
    )
    async def test_sec2_the_names_extension_must_agree_with_the_content(
        self, stack: Stack, content: bytes, filename: str
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        assert_problem(await upload(stack, nurse, subject_id, content, filename), 422, "extension-mismatch")
        await nothing_stored(stack, subject_id)

    @pytest.mark.parametrize(
        "members",
        [
            {"word/evil.html": b"<script>alert(1)</script>", "a.exe": b"MZ" + b"\x00" * 100},
            {"word/media/run.js": b"alert(1)"},
            {"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 100},
            {"word/embeddings/inner.zip": b"PK\x03\x04" + b"\x00" * 100},
            {"word/embeddings/Sheet.xlsx": b"PK\x03\x04" + b"\x00" * 100},
            {"word/media/image1.png": b"\x00" * (60 * 1024 * 1024)},  # ~1000:1, 60 MB from ~60 KB
        ],
        ids=["html-and-exe", "javascript", "macros", "nested-zip", "nested-office", "compression-bomb"],
    )
    async def test_sec2_an_office_file_is_checked_inside(
        self, stack: Stack, members: dict[str, bytes]
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        refused = await upload(stack, nurse, subject_id, office_zip(members), "指示書.docx")
        assert_problem(refused, 422, "unsafe-document")
        await nothing_stored(stack, subject_id)

    async def test_sec2_real_office_documents_are_still_accepted(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        docx = office_zip(
            {
                "word/_rels/document.xml.rels": b"<Relationships/>",
                "word/styles.xml": b"<styles/>",
                "word/media/image1.png": png_bytes(20, 20),
                "word/fonts/font1.odttf": b"\x01" * 200,
                "docProps/thumbnail.jpeg": photo_with_gps(1),
                "customXml/item1.xml": b"<item/>",
            }
        )
        accepted = await upload(stack, nurse, subject_id, docx, "指示書.DOCX")
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["content_type"].endswith("wordprocessingml.document")
        xlsx = office_zip({"xl/printerSettings/printerSettings1.bin": b"\x00" * 64}, kind="xl")
        accepted = await upload(stack, nurse, subject_id, xlsx, "集計.xlsx")
        assert accepted.status_code == 201, accepted.text


# ---------------------------------------------------------------- findings 4 and 7, second round (issue 14)


def heif_photo(image_format: str) -> bytes:
    """A 40 × 20 photo as an iPhone (HEIF) or a recent Android (AVIF) writes it, with camera and GPS in its EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[ORIENTATION] = 6
    exif[GPS_IFD] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 80, 40)).save(out, image_format, exif=exif.tobytes())
    return out.getvalue()


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


LOCATION = b"+35.6895+139.6917+040.000/"
FRAMES = b"\x00\x00\x00\x10frame-data-here!" * 64


def phone_video(brand: bytes = b"isom") -> bytes:
    """An MP4/QuickTime file with its location where Android (udta/©xyz), iPhones (meta keys) and 3GPP
    (trak/udta/loci) put it, and the media data after the movie box as phones write it."""
    keys = box(b"keys", bytes(8) + box(b"mdta", b"com.apple.quicktime.location.ISO6709"))
    ilst = box(b"ilst", box(b"\x00\x00\x00\x01", box(b"data", bytes(8) + LOCATION)))
    moov = box(
        b"moov",
        box(b"mvhd", bytes(100))
        + box(b"trak", box(b"tkhd", bytes(84)) + box(b"udta", box(b"loci", bytes(6) + LOCATION)))
        + box(b"udta", box(b"\xa9xyz", struct.pack(">HH", len(LOCATION), 0) + LOCATION))
        + box(b"meta", bytes(4) + box(b"hdlr", bytes(24)) + keys + ilst),
    )
    return box(b"ftyp", brand + bytes(4) + brand) + moov + box(b"mdat", FRAMES)


NOSTREAM, ENDOFCHAIN, FREESECT, FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD


def legacy_office_file(entries: list[tuple[str, int]]) -> bytes:
    """A minimal OLE compound file (a legacy .doc/.xls/.ppt) whose root holds ``entries`` (name, 1 storage or
    2 stream), all empty: enough for what is checked (the names), built by hand as olefile only reads."""

    def entry(name: str, kind: int, right: int = NOSTREAM, child: int = NOSTREAM) -> bytes:
        encoded = name.encode("utf-16-le") + b"\x00\x00"
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB3I", len(encoded), kind, 1, NOSTREAM, right, child)
            + bytes(36)
            + struct.pack("<IQ", ENDOFCHAIN, 0)
        )

    rows = [entry("Root Entry", 5, child=1)]
    for index, (name, kind) in enumerate(entries, start=1):
        rows.append(entry(name, kind, right=index + 1 if index < len(entries) else NOSTREAM))
    directory = b"".join(rows)
    directory += bytes((-len(directory)) % 512)
    sectors = len(directory) // 512
    fat = [FATSECT, *range(2, sectors + 1), ENDOFCHAIN]
    fat += [FREESECT] * (128 - len(fat))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<9I", 0, 1, 1, 0, 4096, ENDOFCHAIN, 0, ENDOFCHAIN, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", FREESECT) * 108
    )
    return header + struct.pack("<128I", *fat) + directory


def with_declared_member_count(archive: bytes, count: int) -> bytes:
    """The archive with its end-of-central-directory record declaring ``count`` members."""
    at = archive.rfind(b"PK\x05\x06")
    return archive[: at + 8] + struct.pack("<HH", count, count) + archive[at + 12 :]


def zip_with_names(names: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
        for name in names:
            archive.writestr(zipfile.ZipInfo(name), b"<x/>")
    return out.getvalue()


def relationship(kind: str, target: str) -> bytes:
    return (
        b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        + kind.encode()
        + b'" Target="'
        + target.encode()
        + b'" TargetMode="External"/></Relationships>'
    )


async def stored_content(stack: Stack, staff: Staff, attachment_id: str) -> bytes:
    fetched = await stack["timeline"].client.get(
        f"/attachments/{attachment_id}/content", headers=staff.headers
    )
    assert fetched.status_code == 200, fetched.text
    return fetched.content


class TestPhonePhotosAndVideos:
    @pytest.mark.parametrize(
        ("image_format", "filename"), [("HEIF", "IMG_0001.HEIC"), ("AVIF", "PXL_01.avif")]
    )
    async def test_sec2_heic_and_avif_photos_are_stored_as_jpeg_without_exif_or_gps(
        self, stack: Stack, image_format: str, filename: str
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        photo = heif_photo(image_format)
        assert b"PhoneMaker" in photo  # the sample carries its EXIF
        uploaded = await upload(stack, nurse, subject_id, photo, filename)
        assert uploaded.status_code == 201, uploaded.text
        attachment = uploaded.json()
        assert attachment["content_type"] == "image/jpeg"
        # Offered under a name the receiver's computer opens as what it is.
        assert attachment["filename"] == f"{filename.rpartition('.')[0]}.jpg"
        content = await stored_content(stack, nurse, attachment["id"])
        cleaned = Image.open(io.BytesIO(content))
        assert cleaned.format == "JPEG" and cleaned.size == (20, 40)  # upright
        assert dict(cleaned.getexif()) == {} and b"Exif" not in content and b"PhoneMaker" not in content
        assert attachment["size"] == len(content)
        assert attachment["content_sha256"] == hashlib.sha256(content).hexdigest()

    @pytest.mark.parametrize(("brand", "filename"), [(b"isom", "訪問.mp4"), (b"qt  ", "IMG_0002.MOV")])
    async def test_sec2_a_videos_location_is_removed_and_its_frames_kept(
        self, stack: Stack, brand: bytes, filename: str
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        video = phone_video(brand)
        assert video.count(LOCATION) == 3
        uploaded = await upload(stack, nurse, subject_id, video, filename)
        assert uploaded.status_code == 201, uploaded.text
        content = await stored_content(stack, nurse, uploaded.json()["id"])
        assert LOCATION not in content and b"\xa9xyz" not in content and b"quicktime.location" not in content
        # Blanked in place: the same length, and the media data where the movie box's offsets say it is.
        assert len(content) == len(video)
        assert content.endswith(box(b"mdat", FRAMES)) and content.startswith(video[:24])
        assert uploaded.json()["content_sha256"] == hashlib.sha256(content).hexdigest()

    async def test_sec2_a_video_whose_boxes_do_not_add_up_is_refused(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        broken = box(b"ftyp", b"isom" + bytes(4) + b"isom") + struct.pack(">I", 10_000) + b"moov" + bytes(50)
        assert_problem(await upload(stack, nurse, subject_id, broken, "a.mp4"), 422, "unreadable-video")
        await nothing_stored(stack, subject_id)


class TestLegacyOfficeMacros:
    @pytest.mark.parametrize(
        "entries",
        [
            [("WordDocument", 2), ("Macros", 1)],
            [("Workbook", 2), ("_VBA_PROJECT_CUR", 1)],
            [("PowerPoint Document", 2), ("VBA", 1)],
            [("WordDocument", 2), ("ObjectPool", 1)],
        ],
        ids=["word-macros", "excel-vba", "powerpoint-vba", "embedded-objects"],
    )
    async def test_sec2_a_legacy_office_file_with_macros_is_refused(
        self, stack: Stack, entries: list[tuple[str, int]]
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        refused = await upload(stack, nurse, subject_id, legacy_office_file(entries), "指示書.doc")
        assert_problem(refused, 422, "unsafe-document")
        await nothing_stored(stack, subject_id)

    async def test_sec2_a_legacy_office_file_without_macros_is_accepted(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        document = legacy_office_file([("WordDocument", 2), ("1Table", 2), ("\x05SummaryInformation", 2)])
        accepted = await upload(stack, nurse, subject_id, document, "指示書.doc")
        assert accepted.status_code == 201, accepted.text
        assert await stored_content(stack, nurse, accepted.json()["id"]) == document

    async def test_sec2_a_damaged_legacy_office_file_is_refused(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        damaged = legacy_office_file([("WordDocument", 2)])[:600]
        assert_problem(await upload(stack, nurse, subject_id, damaged, "a.xls"), 422, "unsafe-document")


class TestArchivesAndDecoders:
    async def test_sec2_the_member_count_is_read_from_the_end_record_before_the_directory(
        self, stack: Stack
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        limit = stack["timeline"].settings.office_max_members  # type: ignore[attr-defined]
        claimed = with_declared_member_count(office_zip({}), limit + 1)
        refused = await upload(stack, nurse, subject_id, claimed, "a.docx")
        body = assert_problem(refused, 422, "unsafe-document")
        assert str(limit) in body["detail"]
        await nothing_stored(stack, subject_id)

    @pytest.mark.parametrize(
        "name",
        [
            "word/../../evil.xml",
            "word\\media\\a.png",
            "C:/word/a.xml",
            "/word/a.xml",
            "word/a\x00.xml",
            "word/Document.xml",
        ],
        ids=["dot-dot", "backslash", "drive", "absolute", "nul", "duplicate"],
    )
    async def test_sec2_member_names_must_be_plain_and_unique(self, stack: Stack, name: str) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        refused = await upload(stack, nurse, subject_id, zip_with_names([name]), "a.docx")
        assert_problem(refused, 422, "unsafe-document")
        await nothing_stored(stack, subject_id)

    async def test_sec2_relationships_reach_outside_only_as_hyperlinks(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        template = office_zip(
            {"word/_rels/settings.xml.rels": relationship("attachedTemplate", "http://evil.example/t.dotm")}
        )
        refused = await upload(stack, nurse, subject_id, template, "a.docx")
        assert_problem(refused, 422, "unsafe-document")
        await nothing_stored(stack, subject_id)
        link = office_zip(
            {"word/_rels/document.xml.rels": relationship("hyperlink", "https://www.mhlw.go.jp/")}
        )
        accepted = await upload(stack, nurse, subject_id, link, "a.docx")
        assert accepted.status_code == 201, accepted.text

    async def test_sec2_an_animation_over_the_frame_limit_is_refused(self, stack: Stack) -> None:
        from timeline.attachments import images

        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        frames = [Image.new("L", (1, 1), 255 * (i % 2)) for i in range(images.MAX_FRAMES + 1)]
        out = io.BytesIO()
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=10)
        refused = await upload(stack, nurse, subject_id, out.getvalue(), "a.gif")
        assert_problem(refused, 422, "image-too-many-frames")
        await nothing_stored(stack, subject_id)

    async def test_sec2_any_error_of_the_decoder_is_an_unreadable_image_not_a_500(
        self, stack: Stack, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from timeline.attachments import images

        def decoder_fault(image: Image.Image) -> Image.Image:
            raise ZeroDivisionError("a decoder's fault on a hostile file")

        monkeypatch.setattr(images.ImageOps, "exif_transpose", decoder_fault)
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        refused = await upload(stack, nurse, subject_id, photo_with_gps(1), "a.jpg")
        assert_problem(refused, 422, "unreadable-image")
        await nothing_stored(stack, subject_id)


class TestDownloadFailuresBeforeTheResponse:
    async def test_sec2_a_missing_object_is_the_one_404(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        attachment = (await upload(stack, nurse, subject_id, PDF, "a.pdf")).json()
        store = stack["timeline"].app.state.object_store
        key = f"demo/subjects/{subject_id}/{attachment['id']}"
        await asyncio.to_thread(store.client.remove_object, store.bucket, key)
        missing = await stack["timeline"].client.get(
            f"/attachments/{attachment['id']}/content", headers=nurse.headers
        )
        assert_problem(missing, 404, "not-found")

    async def test_sec2_an_unreachable_store_is_a_503_not_a_cut_off_200(self, stack: Stack) -> None:
        from yui_common.storage import ObjectStore

        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        attachment = (await upload(stack, nurse, subject_id, PDF, "a.pdf")).json()
        app = stack["timeline"].app
        settings = stack["timeline"].settings  # type: ignore[attr-defined]
        working = app.state.object_store
        # Nothing listens on port 9 (discard) of this machine: the connection is refused at once.
        app.state.object_store = ObjectStore(settings.model_copy(update={"s3_endpoint": "127.0.0.1:9"}))
        try:
            answer = await stack["timeline"].client.get(
                f"/attachments/{attachment['id']}/content", headers=nurse.headers
            )
        finally:
            app.state.object_store = working
        assert_problem(answer, 503, "storage-unavailable")


# ---------------------------------------------------------------- finding 5: downloads through the gateway


class TestDownloadsThroughTheApi:
    async def test_sec2_a_download_link_goes_through_the_gateway_and_is_refused_at_once_after_withdrawal(
        self, stack: Stack, gateway: Gateway
    ) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        uploaded = await upload(stack, nurse, subject_id, PDF, "紹介状.pdf")
        attachment = uploaded.json()
        await create_post(stack, nurse, subject_id, "紹介状です", attachment_ids=[attachment["id"]])

        async with client_for(gateway) as client:
            answer = await client.get(
                f"/api/timeline/attachments/{attachment['id']}/download", headers=nurse.headers
            )
            assert answer.status_code == 200, answer.text
            link = answer.json()["url"]
            # Relative to the gateway, no signature of the store's: nothing that works without our checks.
            assert link == f"/api/timeline/attachments/{attachment['id']}/content"
            fetched = await client.get(link, headers=nurse.headers)
            assert fetched.status_code == 200 and fetched.content == PDF
            assert fetched.headers["content-disposition"].startswith("attachment;")
            assert (
                "filename*=UTF-8''%E7%B4%B9%E4%BB%8B%E7%8A%B6.pdf" in fetched.headers["content-disposition"]
            )
            assert fetched.headers["cache-control"] == "no-store"
            assert fetched.headers["x-content-type-options"] == "nosniff"
            inline = await client.get(link, params={"disposition": "inline"}, headers=nurse.headers)
            assert inline.status_code == 200 and inline.headers["content-disposition"].startswith("inline;")
            assert_problem(await client.get(link, headers=stack.staff().headers), 404, "not-found")

            # The withdrawal's first step in timeline (what the consent.withdrawn event does), committed:
            withdrawal = ConsentWithdrawnV1(
                subject_id=subject_id,
                consent_id=uuid7(),
                withdrawal_id=uuid7(),
                withdrawn_at=datetime.now(UTC),
            )
            async with stack["timeline"].sessionmaker() as session, session.begin():
                await access.refuse_subject(session, tenant=nurse.tenant, withdrawal=withdrawal)
            # ... and the very same link is refused on the next request.
            assert_problem(await client.get(link, headers=nurse.headers), 410, "support-stopped")

    async def test_sec2_downloading_is_audited_per_request(self, stack: Stack) -> None:
        nurse = stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        attachment = (await upload(stack, nurse, subject_id, PDF, "a.pdf")).json()
        client = stack["timeline"].client
        link = (await client.get(f"/attachments/{attachment['id']}/download", headers=nurse.headers)).json()
        path = link["url"].removeprefix("/api/timeline")
        for _ in range(2):
            assert (await client.get(path, headers=nurse.headers)).status_code == 200
        async with stack["timeline"].sessionmaker() as session:
            count = await session.execute(
                text(
                    "SELECT count(*) FROM audit_log WHERE action = 'attachment.download' "
                    "AND detail->>'attachment' = :a"
                ),
                {"a": attachment["id"]},
            )
            # Asking for the link reads nothing; each of the two downloads is one entry.
            assert count.scalar() == 2


# ---------------------------------------------------------------- finding 9: one 404 body


class TestOneNotFoundBody:
    async def test_sec2_every_unreachable_object_answers_the_same_404_body(self, stack: Stack) -> None:
        nurse, outsider = stack.staff(), stack.staff()
        subject_id = await subject_with_team(stack, nurse)
        attachment = (await upload(stack, nurse, subject_id, PDF, "a.pdf")).json()
        post = await create_post(stack, nurse, subject_id, "本日訪問", attachment_ids=[attachment["id"]])
        group_id = await group_with_members(stack, nurse)
        client = stack["timeline"].client
        missing = uuid7()
        paths = [
            f"/posts/{post['id']}",  # exists, another care team's
            f"/posts/{missing}",  # does not exist
            f"/subjects/{subject_id}/posts",
            f"/subjects/{missing}/posts",
            f"/attachments/{attachment['id']}",
            f"/attachments/{missing}",
            f"/attachments/{attachment['id']}/content",
            f"/attachments/{missing}/download",
            f"/groups/{group_id}/posts",
            f"/groups/{missing}/posts",
        ]
        bodies: list[dict[str, Any]] = []
        for path in paths:
            body = assert_problem(await client.get(path, headers=outsider.headers), 404, "not-found")
            assert body.pop("instance") == path
            bodies.append(body)
        assert all(body == bodies[0] for body in bodies), bodies
        assert "subject" not in str(bodies[0]) and "post" not in str(bodies[0])
