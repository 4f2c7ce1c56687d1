"""MP4 and QuickTime videos made safe to share: the boxes where phones write their location are blanked in place.

A phone writes where a video was taken into its metadata: Android as a ``©xyz`` box in ``moov/udta``, an iPhone
as ``com.apple.quicktime.location.ISO6709`` in ``moov/meta``, some cameras as ``loci`` or XMP in a ``uuid`` box.
Every user-data (``udta``), metadata (``meta``) and ``uuid`` box at the top, in ``moov`` and in its tracks is
turned into a ``free`` box of zeros of the same size: players skip ``free`` boxes, and since nothing moves, the
sample offsets into ``mdat`` stay right without rewriting the file. What goes with them (camera make and model,
creation software) says nothing a player needs.

Written here rather than with mutagen: mutagen edits the iTunes-style ``ilst`` tags only, not ``udta/©xyz``
nor the QuickTime ``keys`` metadata where the positions actually are.
"""

from __future__ import annotations

import os
import struct
from typing import IO

_CONTAINERS = frozenset({b"moov", b"trak"})
_METADATA = frozenset({b"udta", b"meta", b"uuid"})
_BLOCK = 1024 * 1024


class VideoRefusedError(Exception):
    """The video's box structure cannot be read, so its metadata cannot be removed."""


def remove_metadata(file: IO[bytes]) -> int:
    """Blank every metadata box of the MP4/QuickTime file in place; return how many were blanked. Blocking: run
    it in a thread. Raises VideoRefusedError when the boxes do not add up."""
    end = file.seek(0, os.SEEK_END)
    blanked = _walk(file, 0, end)
    file.seek(0)
    return blanked


def _walk(file: IO[bytes], start: int, end: int) -> int:
    blanked = 0
    offset = start
    while offset + 8 <= end:
        file.seek(offset)
        box_size, box_type = struct.unpack(">I4s", file.read(8))
        header_size = 8
        if box_size == 1:
            large = file.read(8)
            if len(large) < 8:
                raise VideoRefusedError("truncated box header")
            (box_size,) = struct.unpack(">Q", large)
            header_size = 16
        elif box_size == 0:  # the last box runs to the end of its parent
            box_size = end - offset
        if box_size < header_size or offset + box_size > end:
            raise VideoRefusedError("a box runs past its parent")
        if box_type in _METADATA:
            _blank(file, offset, header_size, box_size)
            blanked += 1
        elif box_type in _CONTAINERS:
            blanked += _walk(file, offset + header_size, offset + box_size)
        offset += box_size
    return blanked


def _blank(file: IO[bytes], offset: int, header_size: int, box_size: int) -> None:
    file.seek(offset + 4)
    file.write(b"free")
    file.seek(offset + header_size)
    remaining = box_size - header_size
    while remaining > 0:
        step = min(remaining, _BLOCK)
        file.write(bytes(step))
        remaining -= step
