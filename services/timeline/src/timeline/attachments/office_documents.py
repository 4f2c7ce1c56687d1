"""Office documents that are zip archives (docx, xlsx, pptx; OpenDocument), checked inside before they are stored.

The first bytes only say "a zip that starts like an office document"; what a receiver opens is every member.
Each member must be a part that format holds (XML parts, media, fonts, printer settings), so a document cannot
carry a web page, a program, macros (vbaProject.bin, OpenDocument's Basic/ and Scripts/) or another archive,
and the sizes the archive declares must be plausible (no member inflating a thousandfold, no total beyond a
limit). The member count is read from the end-of-central-directory record before zipfile loads the directory
(a directory of millions of entries is memory before any check runs); member names must be plain relative paths,
each once; relationships may point outside the document only as hyperlinks (an external template or OLE link is
fetched when the file opens). Nothing is extracted to disk: the central directory is read with the standard
library's zipfile, and only the small .rels parts are read.

Legacy Word, Excel and PowerPoint files (OLE compound files) are opened with olefile and refused when they hold
macros (VBA project streams) or embedded objects (ObjectPool), which these formats run or open without asking.
"""

from __future__ import annotations

import os
import re
import struct
import zipfile
from dataclasses import dataclass
from typing import IO

import olefile

from timeline.attachments.content_types import ODF, OOXML

_OOXML_TYPES = {
    "word": f"{OOXML}.wordprocessingml.document",
    "xl": f"{OOXML}.spreadsheetml.sheet",
    "ppt": f"{OOXML}.presentationml.presentation",
}
_OOXML_SHARED_FOLDERS = frozenset({"_rels", "docProps", "customXml", "_xmlsignatures"})
_XML_PARTS = frozenset({"xml", "rels", "vml", "rdf"})
_MEDIA = frozenset(
    {"png", "jpg", "jpeg", "jpe", "jfif", "gif", "bmp", "tif", "tiff", "emf", "wmf", "svg", "wdp", "jxr"}
)
_FONTS = frozenset({"odttf", "fntdata"})
_AUDIO_VIDEO = frozenset({"mp4", "m4v", "mov", "mp3", "m4a", "wav", "wma", "wmv"})  # in slides only
_ARCHIVES = frozenset(
    {"zip", "jar", "7z", "rar", "gz", "tgz", "cab", "docx", "docm", "xlsx", "xlsm", "xlsb", "pptx", "pptm"}
    | {"odt", "ods", "odp", "odg"}
)
_PRINTER_SETTINGS = re.compile(r"^(word|xl|ppt)/printerSettings/printerSettings\d+\.bin$")
_ODF_MACRO_FOLDERS = frozenset({"Basic", "Scripts"})
_ODF_PLAIN_NAMES = frozenset({"mimetype", "layout-cache"})
_END_OF_DIRECTORY = b"PK\x05\x06"
_END_OF_DIRECTORY_SIZE = 22
_MAX_COMMENT = 0xFFFF
_RELATIONSHIP = re.compile(rb"<(?:[\w.-]+:)?Relationship\b[^>]*>")
_EXTERNAL = re.compile(rb"""\bTargetMode\s*=\s*["']External["']""")
_TYPE = re.compile(rb"""\bType\s*=\s*["']([^"']*)["']""")
_MAX_RELS_BYTES = 4 * 1024 * 1024
# OLE storages and streams that hold macros (Word/Excel VBA, PowerPoint's VBA storage) or embedded objects.
_OLE_MACRO_ENTRIES = frozenset({"macros", "_vba_project_cur", "vba", "objectpool", "_vba_project"})


@dataclass(frozen=True)
class Limits:
    max_members: int
    max_uncompressed_bytes: int
    max_compression_ratio: int


class DocumentRefusedError(Exception):
    """The document is refused; the message says why, for the user."""


def inspect(file: IO[bytes], content_type: str, limits: Limits) -> str:
    """Check the archive's members against what its format holds; return its content type, told by its members
    for OOXML (word/, xl/ or ppt/). Blocking: run it in a thread. Raises DocumentRefusedError."""
    if _declared_member_count(file) > limits.max_members:
        raise DocumentRefusedError(f"The document has more than {limits.max_members} parts.")
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
            if len(members) > limits.max_members:  # the record may have understated it
                raise DocumentRefusedError(f"The document has more than {limits.max_members} parts.")
            _check_names(members)
            _check_sizes(members, limits)
            if not content_type.startswith(ODF):
                _check_relationships(archive, members)
    except DocumentRefusedError:
        raise
    except Exception:
        # BadZipFile, zlib.error, an unsupported compression method, a truncated file, ...: never a 500.
        raise DocumentRefusedError("The document is not a readable archive.") from None
    names = [m.filename for m in members if not m.is_dir()]
    if content_type.startswith(ODF):
        for name in names:
            _check_odf_member(name)
        return content_type
    folders = {name.split("/", 1)[0] for name in names} & _OOXML_TYPES.keys()
    if len(folders) != 1:
        raise DocumentRefusedError("The document is not one Word, Excel or PowerPoint document.")
    [folder] = folders
    for name in names:
        _check_ooxml_member(name, folder)
    return _OOXML_TYPES[folder]


def inspect_legacy(file: IO[bytes]) -> None:
    """Refuse a legacy Word, Excel or PowerPoint file with macros or embedded objects. Blocking: run it in a
    thread. Raises DocumentRefusedError."""
    try:
        with olefile.OleFileIO(file) as ole:
            entries = ole.listdir(streams=True, storages=True)
    except Exception:
        # olefile raises OSError for most damage but also IndexError/struct.error on hostile directories.
        raise DocumentRefusedError("The document is not a readable Word, Excel or PowerPoint file.") from None
    for path in entries:
        if any(part.lower() in _OLE_MACRO_ENTRIES for part in path):
            raise DocumentRefusedError("Documents with macros or embedded objects cannot be attached.")


def _declared_member_count(file: IO[bytes]) -> int:
    """The entry count the end-of-central-directory record declares, read from the file's tail alone."""
    size = file.seek(0, os.SEEK_END)
    tail_length = min(size, _END_OF_DIRECTORY_SIZE + _MAX_COMMENT)
    file.seek(size - tail_length)
    tail = file.read(tail_length)
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) - at < _END_OF_DIRECTORY_SIZE:
        raise DocumentRefusedError("The document is not a readable archive.")
    (entries,) = struct.unpack_from("<H", tail, at + 10)
    if entries == 0xFFFF:  # ZIP64: the real count is elsewhere, and more than any office document holds
        raise DocumentRefusedError("The document has too many parts.")
    return int(entries)


def _check_names(members: list[zipfile.ZipInfo]) -> None:
    seen: set[str] = set()
    for member in members:
        # orig_filename is the name as stored (filename is cut at a NUL byte).
        name = member.orig_filename
        if (
            not name
            or name.startswith("/")
            or any(ch in name for ch in ("\\", ":", "\x00"))
            or ".." in name.split("/")
        ):
            raise DocumentRefusedError(f"'{name[:100]!r}' is not a plain name of a part.")
        key = name.lower()  # Windows and macOS extract case-insensitively
        if key in seen:
            raise DocumentRefusedError(f"'{name[:100]}' is in the document twice.")
        seen.add(key)


def _check_sizes(members: list[zipfile.ZipInfo], limits: Limits) -> None:
    total = 0
    for member in members:
        if member.flag_bits & 0x1:
            raise DocumentRefusedError("The document holds encrypted parts.")
        total += member.file_size
        # Small parts (short XML) may compress very well; a large part that does is a bomb.
        if member.file_size > 1024 * 1024 and member.file_size > limits.max_compression_ratio * max(
            member.compress_size, 1
        ):
            raise DocumentRefusedError("A part of the document is compressed implausibly well.")
    if total > limits.max_uncompressed_bytes:
        raise DocumentRefusedError(
            f"The document unpacks to more than {limits.max_uncompressed_bytes} bytes."
        )


def _check_relationships(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
    """Only hyperlinks may point outside the document: an external template, image, OLE object or frame is
    fetched (or run) when the document opens, which tells a stranger who opened it, or worse."""
    for member in members:
        if not member.filename.lower().endswith(".rels"):
            continue
        if member.file_size > _MAX_RELS_BYTES:
            raise DocumentRefusedError("A part of the document is implausibly large.")
        text = archive.read(member)
        for relationship in _RELATIONSHIP.findall(text):
            if not _EXTERNAL.search(relationship):
                continue
            kind = _TYPE.search(relationship)
            if kind is None or not kind.group(1).endswith(b"/hyperlink"):
                raise DocumentRefusedError("Documents that load content from outside cannot be attached.")


def _extension(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base.rpartition(".")[2].lower() if "." in base else ""


def _refuse_dangerous(name: str, extension: str) -> None:
    if name.rsplit("/", 1)[-1].lower() in {"vbaproject.bin", "vbaprojectsignature.bin"}:
        raise DocumentRefusedError("Documents with macros cannot be attached.")
    if extension in _ARCHIVES:
        raise DocumentRefusedError("Documents with other files or archives inside cannot be attached.")


def _check_ooxml_member(name: str, folder: str) -> None:
    extension = _extension(name)
    _refuse_dangerous(name, extension)
    top = name.split("/", 1)[0]
    allowed = name == "[Content_Types].xml" or (
        (top == folder or top in _OOXML_SHARED_FOLDERS)
        and (
            extension in _XML_PARTS
            or extension in _MEDIA
            or extension in _FONTS
            or (extension in _AUDIO_VIDEO and folder == "ppt")
            or (extension == "sigs" and top == "_xmlsignatures")
            or _PRINTER_SETTINGS.match(name) is not None
        )
    )
    if not allowed:
        raise DocumentRefusedError(f"'{name[:100]}' is not a part of an office document.")


def _check_odf_member(name: str) -> None:
    extension = _extension(name)
    _refuse_dangerous(name, extension)
    top = name.split("/", 1)[0]
    if top in _ODF_MACRO_FOLDERS:
        raise DocumentRefusedError("Documents with macros cannot be attached.")
    allowed = (
        name in _ODF_PLAIN_NAMES
        or extension in _XML_PARTS
        or extension in _MEDIA
        or (
            top == "ObjectReplacements" and extension == ""
        )  # the pictures shown for embedded objects, named without extension
    )
    if not allowed:
        raise DocumentRefusedError(f"'{name[:100]}' is not a part of an OpenDocument file.")
