"""The small picture a note keeps: the page as it was sent upstream, re-encoded as a bounded JPEG.

Pure (Pillow only). :func:`thumbnail` takes the bytes the model was sent (our own JPEG or PNG,
already upright, flattened and stripped of metadata by :mod:`~mathnotes.vision.images`), and
:func:`thumbnail_of` a picture already decoded (the OCR backend's). Both give a JPEG whose longest
side is at most ``max_side`` and whose size is at most ``max_bytes``: the quality is lowered step by
step until it fits, then the side halved; ``None`` when nothing fits or the bytes are no picture.
The work is bounded and small (about 15 ms for a 2.6 MP page on a slow core): a JPEG is decoded at a
reduced DCT scale when it can be, the picture is shrunk by a whole factor (a box filter, which keeps
handwriting legible and costs a few ms where Lanczos costs tens), at most :data:`MAX_SOURCE_PIXELS` are
decoded at all, and at most ``len(QUALITIES)`` encodes are tried per side.
"""

from __future__ import annotations

import io
import math

from PIL import Image

from .shrink import flatten

__all__ = ["MAX_SOURCE_PIXELS", "MIN_SIDE", "QUALITIES", "thumbnail", "thumbnail_of"]

QUALITIES = (80, 65, 50, 35, 25)  # JPEG qualities tried in turn until the thumbnail fits
MIN_SIDE = 64  # below this the page is unreadable: no thumbnail rather than a smudge
MAX_SOURCE_PIXELS = 16_777_216  # VISION_MAX_PIXELS_HIGH_RES: the largest picture we ever send upstream

_UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, MemoryError, Image.DecompressionBombError)


def thumbnail(data: bytes, max_side: int, max_bytes: int) -> bytes | None:
    """A JPEG of at most ``max_side`` px a side and ``max_bytes`` bytes from the upstream picture's bytes.

    A JPEG that already fits is returned as it is (only its header is read).
    """
    try:
        img = Image.open(io.BytesIO(data))
        if img.format == "JPEG" and max(img.size) <= max_side and len(data) <= max_bytes:
            return data
        if img.width * img.height > MAX_SOURCE_PIXELS:
            return None
        factor = math.ceil(max(img.size) / max_side)
        if factor > 1:  # a JPEG decodes at the smallest DCT scale (1/2, 1/4, 1/8) no smaller than the thumbnail
            img.draft("RGB", (math.ceil(img.width / factor), math.ceil(img.height / factor)))
        img.load()
    except _UNREADABLE:
        return None
    return thumbnail_of(img, max_side, max_bytes)


def thumbnail_of(img: Image.Image, max_side: int, max_bytes: int) -> bytes | None:
    """A JPEG of a decoded picture (left untouched), at most ``max_side`` px a side and ``max_bytes`` bytes."""
    try:
        picture = flatten(img)
        if picture.mode not in ("RGB", "L"):
            picture = picture.convert("RGB")
        side = max_side
        while side >= MIN_SIDE:
            small = _fit(picture, side)
            for quality in QUALITIES:
                out = io.BytesIO()
                small.save(out, "JPEG", quality=quality, optimize=True)
                if out.tell() <= max_bytes:
                    return out.getvalue()
            picture, side = small, side // 2
    except _UNREADABLE:
        return None
    return None


def _fit(img: Image.Image, side: int) -> Image.Image:
    """``img`` shrunk by the smallest whole factor that brings its longer side to at most ``side``."""
    factor = math.ceil(max(img.size) / side)
    return img.reduce(factor) if factor > 1 else img
