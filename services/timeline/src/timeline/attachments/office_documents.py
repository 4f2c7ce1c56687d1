"""Office documents that are zip archives (docx, xlsx, pptx; OpenDocument), checked inside before they are stored.

The first bytes only say "a zip that starts like an office document"; what a receiver opens is every member.
Each member must be a part that format holds (XML parts, media, fonts, printer settings), so a document cannot
carry a web page, a program, macros (vbaProject.bin, OpenDocument's Basic/ and Scripts/) or another archive,
and the sizes the archive declares must be plausible (no member inflating a thousandfold, no total beyond a
limit). Nothing is extracted here: the central directory is read with the standard library's zipfile.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from typing import IO

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
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DocumentRefusedError("The document is not a readable archive.") from None
    if len(members) > limits.max_members:
        raise DocumentRefusedError(f"The document has more than {limits.max_members} parts.")
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
