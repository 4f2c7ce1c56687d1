"""Uploaded images made safe to keep and share: a pixel limit read from the header before anything is decoded,
then the image re-encoded upright without its metadata (EXIF with the GPS position, XMP, comments), and its
thumbnail made from the same decoded pixels.

iPhone photos (HEIC) and AVIF are converted to JPEG through the same path: a receiver's computer may not open
them, and their EXIF holds the same GPS position. pillow-heif registers its HEIF opener with Pillow; Pillow reads
AVIF itself.

Re-encoding (not editing the metadata out) is Pillow's well-trodden path and also drops whatever else rides in
the file's ancillary chunks. Only the colour profile (and a palette's transparency) is kept: without it a photo's
colours shift, and it says nothing about who took it where.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO, Any

import pillow_heif
from PIL import Image, ImageOps, ImageSequence

pillow_heif.register_heif_opener()

_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
    "image/avif": "AVIF",
}
# Formats kept as they are; the others are stored as JPEG (what every receiver opens).
_KEPT_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP"})
# An animation's frames are each decoded and re-encoded: thousands of tiny frames cost time the pixel limit
# does not count (it counts pixels, and every frame has its own overhead).
MAX_FRAMES = 500
_KEPT_INFO = ("icc_profile", "transparency")
JPEG_QUALITY = 90


class ImageRefusedError(Exception):
    """The upload is refused; ``slug`` says why (image-too-large, image-too-many-frames or unreadable-image)."""

    def __init__(self, slug: str, pixels: int = 0) -> None:
        super().__init__(slug)
        self.slug = slug
        self.pixels = pixels


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    thumbnail: bytes
    content_type: str  # of ``data``: HEIC and AVIF come out as image/jpeg


def install_pixel_limit(max_pixels: int) -> None:
    """Pillow's own decompression-bomb guard at our limit, its warning an error: whatever path opens an image
    in this process, nothing over the limit is decoded (Pillow only warns up to twice its limit by default)."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def clean_image(file: IO[bytes], content_type: str, *, max_pixels: int, thumbnail_px: int) -> CleanImage:
    """The image re-encoded without metadata (orientation applied; same format, HEIC and AVIF as JPEG) and its
    JPEG thumbnail.

    Blocking (run it in a thread). Raises ImageRefusedError for an image over ``max_pixels`` (counting every
    frame of an animation) or over MAX_FRAMES frames before decoding it, and for one Pillow cannot decode."""
    image_format = _FORMATS[content_type]
    try:
        with Image.open(file, formats=[image_format]) as image:
            width, height = image.size  # from the header: nothing is decoded yet
            if width * height > max_pixels:
                raise ImageRefusedError("image-too-large", width * height)
            if image_format not in _KEPT_FORMATS:
                # HEIC/AVIF: only the primary image is kept (a HEIC's other images are bursts and depth maps).
                first = ImageOps.exif_transpose(image)
                data = _reencode(first, "JPEG")
                return CleanImage(data, _thumbnail(first, thumbnail_px), "image/jpeg")
            frames = int(getattr(image, "n_frames", 1))  # frame headers only, no pixel data
            if frames > MAX_FRAMES:
                raise ImageRefusedError("image-too-many-frames", frames)
            if width * height * frames > max_pixels:
                raise ImageRefusedError("image-too-large", width * height * frames)
            if frames > 1:
                data, first = _reencode_animation(image, image_format)
            else:
                first = ImageOps.exif_transpose(image)
                data = _reencode(first, image_format)
            return CleanImage(data, _thumbnail(first, thumbnail_px), content_type)
    except ImageRefusedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefusedError("image-too-large") from None
    except Exception:
        # Whatever a damaged or hostile file makes a decoder raise (OSError, ValueError, but also TypeError,
        # struct.error, ZeroDivisionError, a plugin's own errors), the answer is a 422, never a 500.
        raise ImageRefusedError("unreadable-image") from None


def _reencode(image: Image.Image, image_format: str) -> bytes:
    image.info = {key: image.info[key] for key in _KEPT_INFO if key in image.info}
    options: dict[str, Any] = {}
    if image_format == "JPEG":
        if image.mode not in {"RGB", "L", "CMYK"}:
            image = image.convert("RGB")
        options = {"quality": JPEG_QUALITY, "exif": b""}
    elif image_format == "WEBP":
        options = {
            "quality": JPEG_QUALITY,
            "exif": b"",
            "xmp": b"",
            "icc_profile": image.info.get("icc_profile"),
        }
    out = io.BytesIO()
    image.save(out, image_format, **options)
    return out.getvalue()


def _reencode_animation(image: Image.Image, image_format: str) -> tuple[bytes, Image.Image]:
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        durations.append(frame.info.get("duration", 100))
        copy = frame.copy()
        copy.info = {key: frame.info[key] for key in _KEPT_INFO if key in frame.info}
        frames.append(copy)
    out = io.BytesIO()
    options: dict[str, Any] = (
        {"exif": b"", "xmp": b"", "quality": JPEG_QUALITY} if image_format == "WEBP" else {}
    )
    frames[0].save(
        out,
        image_format,
        save_all=True,
        append_images=frames[1:],
        duration=durations,
        loop=image.info.get("loop", 0),
        **options,
    )
    return out.getvalue(), frames[0]


def _thumbnail(image: Image.Image, max_px: int) -> bytes:
    small = image.copy()
    small.thumbnail((max_px, max_px))
    out = io.BytesIO()
    small.convert("RGB").save(out, "JPEG", quality=80)
    return out.getvalue()
