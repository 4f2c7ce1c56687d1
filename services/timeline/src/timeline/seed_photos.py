"""The demo's photos, drawn at seed time: a dressed pressure ulcer beside a paper ruler, and a wall medication
calendar with its pockets. Synthetic shapes, never a real patient's picture."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

WIDTH, HEIGHT = 960, 720
# Debian's fonts-noto-cjk (the browser tests install it); without it the calendar goes without its labels.
CJK_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
)


def _font(size: int) -> ImageFont.FreeTypeFont | None:
    for path in CJK_FONTS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return None


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


def _grain(image: Image.Image) -> Image.Image:
    """A little sensor noise, so the picture reads as a photo rather than a drawing."""
    noise = Image.effect_noise(image.size, 24)
    return Image.blend(image, Image.merge("RGB", (noise, noise, noise)), 0.06)


def wound_photo(*, size_cm: tuple[float, float], redness: float) -> bytes:
    """Skin over the sacrum with a shallow ulcer of ``size_cm`` and a ``redness`` (0..1) halo, ruler below."""
    px_per_cm = 90
    image = Image.new("RGB", (WIDTH, HEIGHT), (222, 182, 150))
    draw = ImageDraw.Draw(image)
    # Light falling from the top left over the skin.
    for y in range(HEIGHT):
        shade = int(18 * (y / HEIGHT))
        draw.line([(0, y), (WIDTH, y)], fill=(226 - shade, 186 - shade, 154 - shade))
    centre = (WIDTH // 2, HEIGHT // 2 - 40)
    width, height = (int(size_cm[0] * px_per_cm), int(size_cm[1] * px_per_cm))
    halo = Image.new("L", image.size, 0)
    ImageDraw.Draw(halo).ellipse(
        [centre[0] - width, centre[1] - height, centre[0] + width, centre[1] + height],
        fill=int(150 * redness),
    )
    image.paste((205, 105, 95), mask=halo.filter(ImageFilter.GaussianBlur(40)))
    wound = Image.new("L", image.size, 0)
    ImageDraw.Draw(wound).ellipse(
        [centre[0] - width // 2, centre[1] - height // 2, centre[0] + width // 2, centre[1] + height // 2],
        fill=255,
    )
    image.paste((178, 58, 62), mask=wound.filter(ImageFilter.GaussianBlur(6)))
    bed = Image.new("L", image.size, 0)
    ImageDraw.Draw(bed).ellipse(
        [centre[0] - width // 4, centre[1] - height // 5, centre[0] + width // 4, centre[1] + height // 4],
        fill=170,
    )
    image.paste((214, 160, 120), mask=bed.filter(ImageFilter.GaussianBlur(10)))
    # The paper ruler laid under the wound, in centimetres.
    draw = ImageDraw.Draw(image)
    top = HEIGHT - 170
    draw.rectangle([120, top, WIDTH - 120, top + 70], fill=(246, 246, 240), outline=(190, 190, 180))
    for tick in range(0, (WIDTH - 260) // px_per_cm * 10 + 1):
        x = 140 + tick * px_per_cm // 10
        length = 34 if tick % 10 == 0 else (22 if tick % 5 == 0 else 12)
        draw.line([(x, top), (x, top + length)], fill=(40, 40, 40), width=2 if tick % 10 == 0 else 1)
    font = _font(22)
    if font is not None:
        for cm in range((WIDTH - 260) // px_per_cm + 1):
            draw.text((136 + cm * px_per_cm, top + 38), str(cm), fill=(40, 40, 40), font=font)
    return _jpeg(_grain(image.filter(ImageFilter.GaussianBlur(0.8))))


def medication_calendar_photo(*, taken_through: int, seed: int) -> bytes:
    """A week's wall pocket calendar (朝・昼・夕・寝る前), each pocket holding one dose packet; the pockets of
    the first ``taken_through`` days are empty (taken)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (236, 232, 224))  # the wall
    draw = ImageDraw.Draw(image)
    board = (60, 40, WIDTH - 60, HEIGHT - 40)
    draw.rounded_rectangle(board, radius=18, fill=(120, 170, 210), outline=(90, 130, 170), width=4)
    days = ("月", "火", "水", "木", "金", "土", "日")
    times = ("朝", "昼", "夕", "寝る前")
    font, small = _font(30), _font(22)
    left, top = board[0] + 110, board[1] + 70
    cell_w, cell_h = (board[2] - left - 20) // 7, (board[3] - top - 20) // 4
    rng = random.Random(seed)  # noqa: S311 - picture layout, not security
    for column, day in enumerate(days):
        x = left + column * cell_w
        if font is not None:
            draw.text((x + cell_w // 2 - 15, board[1] + 18), day, fill=(255, 255, 255), font=font)
        for row, when in enumerate(times):
            y = top + row * cell_h
            if column == 0 and small is not None:
                draw.text((board[0] + 18, y + cell_h // 2 - 14), when, fill=(255, 255, 255), font=small)
            draw.rectangle([x + 6, y + 6, x + cell_w - 6, y + cell_h - 6], fill=(200, 225, 240))
            if column >= taken_through and not (row == 3 and column % 3 == 1):
                packet = [x + 16, y + 18, x + cell_w - 16, y + cell_h - 14]
                draw.rectangle(packet, fill=(250, 250, 248), outline=(210, 210, 205))
                for tablet in range(2 + (row == 0)):
                    cx = packet[0] + 15 + tablet * 20 + rng.randint(-2, 2)
                    cy = (packet[1] + packet[3]) // 2 + rng.randint(-6, 6)
                    colour = ((255, 255, 255), (245, 210, 120), (240, 170, 170))[tablet % 3]
                    draw.ellipse([cx - 9, cy - 9, cx + 9, cy + 9], fill=colour, outline=(170, 170, 170))
            # The clear pocket's sheen.
            draw.line([(x + 10, y + 12), (x + cell_w - 30, y + 12)], fill=(235, 245, 252), width=3)
    return _jpeg(_grain(image.filter(ImageFilter.GaussianBlur(0.6))))
