"""Pixel arithmetic: the size a picture is shrunk to, the shapes refused, what a decode costs in memory.

Pure integer maths, no Pillow. :func:`decode_cost` is the memory model that
:class:`~mathnotes.vision.budget.DecodeBudget` admits decodes by; its constants
were measured (peak RSS of a fresh process decoding each kind of image, see the
vision README) and every one is rounded up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "BAND_PIXELS",
    "GAP",
    "MAX_ASPECT",
    "MAX_SIDE",
    "Band",
    "ShapeError",
    "check_shape",
    "decode_cost",
    "fit_within",
    "plan_shrink",
    "storage_bytes",
]

MAX_SIDE = 65_500  # libjpeg cannot write a side longer than this (JPEG_MAX_DIMENSION)
MAX_ASPECT = 200  # Qwen-VL refuses images more than 200 times longer than wide, and so does this service
BAND_PIXELS = 1_000_000  # source pixels shrunk per band: the scratch memory of a shrink is a few of these
GAP = 3  # box-reduce by a whole factor first while the result stays >= GAP times the target (Pillow's reducing_gap)

MIB = 1 << 20
_FIXED = 16 * MIB  # codec state, Python objects, the encoder's buffers
# bytes per source pixel a decoder holds besides the decoded picture itself
_DECODER_EXTRA = {
    "webp": 12,  # libwebp's two RGBA canvases + the Python bytes Pillow copies a frame through
    "heic": 2,  # libheif's YCbCr planes while it converts them to the RGB(A) buffer (counted as decoded)
    "png": 0,
    "gif": 0,
}


class ShapeError(ValueError):
    """A size the service refuses: ``code`` is ``image_too_long`` or ``image_aspect_ratio``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def fit_within(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size of the same aspect ratio (each side rounded down) with at most ``max_pixels`` pixels.

    In closed form: at scale ``s = sqrt(max_pixels / (width * height))`` the sides are
    ``floor(width * s) = isqrt(max_pixels * width // height)`` and likewise for the height,
    so their product is at most ``max_pixels`` and neither side could grow by one pixel
    without passing its exact scaled length. A side that would round to 0 is 1 (and the
    other side then takes what the budget leaves).
    """
    if width < 1 or height < 1 or max_pixels < 1:
        raise ValueError("sizes and budget must be positive")
    if width * height <= max_pixels:
        return width, height
    w = math.isqrt(max_pixels * width // height)
    h = math.isqrt(max_pixels * height // width)
    if w == 0:
        return 1, min(height, max_pixels)
    if h == 0:
        return min(width, max_pixels), 1
    return w, h


def check_shape(width: int, height: int) -> None:
    """ShapeError for a side over :data:`MAX_SIDE` or an aspect ratio over :data:`MAX_ASPECT`."""
    longest, shortest = max(width, height), min(width, height)
    if longest > MAX_SIDE:
        raise ShapeError(
            "image_too_long",
            f"image is {width}x{height} pixels; no side may be longer than {MAX_SIDE} pixels",
        )
    if longest > MAX_ASPECT * shortest:
        raise ShapeError(
            "image_aspect_ratio",
            f"image is {width}x{height} pixels, {longest / shortest:.0f} times longer than wide; "
            f"the limit is {MAX_ASPECT}:1 (split a long scan into pages)",
        )


@dataclass(frozen=True)
class Band:
    """Output rows ``[out_top, out_bottom)`` come from source rows ``[top, bottom)`` (their filter support included)."""

    out_top: int
    out_bottom: int
    top: int
    bottom: int


def plan_shrink(width: int, height: int, target: tuple[int, int]) -> tuple[int, list[Band]]:
    """How to shrink ``width x height`` to ``target`` one band of rows at a time.

    Returns the box-reduce factor ``k`` and the bands. Each band's source rows start on a
    multiple of ``k`` and reach ``3 * rows-per-output-row`` past its output rows (the
    Lanczos support) plus two reduced rows, so shrinking the bands one by one gives the
    picture a shrink of the whole would, while only one band is ever copied.
    """
    tw, th = target
    k = max(1, int(min(width / tw, height / th) / GAP))
    fy = height / th
    margin = k * (math.ceil(3 * fy / k) + 2)
    rows = max(1, int((BAND_PIXELS / width - 2 * margin) / fy))
    bands = []
    for out_top in range(0, th, rows):
        out_bottom = min(th, out_top + rows)
        top = max(0, (math.floor(out_top * fy) - margin) // k * k)
        bottom = min(height, -(-(math.ceil(out_bottom * fy) + margin) // k) * k)
        bands.append(Band(out_top, out_bottom, top, bottom))
    return k, bands


def storage_bytes(mode: str) -> int:
    """Bytes Pillow stores per pixel of ``mode`` (its multi-band modes use 4, even RGB)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def decode_cost(
    fmt: str,
    mode: str,
    source: tuple[int, int],
    decoded: tuple[int, int],
    target: tuple[int, int],
    components: Sequence[tuple[int, int]] = (),
    multiscan: bool = True,
) -> int:
    """Bytes one :func:`~mathnotes.vision.images.prepare` may hold at its peak, by the memory model.

    ``source`` is the size in the file, ``decoded`` the size Pillow decodes to (smaller
    for a JPEG with a draft scale), ``target`` the size sent on. ``components`` are a
    JPEG's sampling factors: for a ``multiscan`` JPEG (progressive, or components in separate
    scans) libjpeg keeps every DCT coefficient of the whole picture, 2 bytes per sample.
    """
    src_px = source[0] * source[1]
    decoded_px = decoded[0] * decoded[1]
    per_pixel = len(mode) if fmt == "heic" else storage_bytes(mode)  # libheif packs 3 bytes for RGB
    cost = decoded_px * per_pixel + _FIXED
    if fmt == "jpeg" and multiscan:
        hmax = max((h for h, _v in components), default=1)
        vmax = max((v for _h, v in components), default=1)
        samples = sum(h * v for h, v in components) / (hmax * vmax) if components else 3
        cost += int(2 * samples * src_px)
    elif fmt != "jpeg":
        cost += _DECODER_EXTRA.get(fmt, 4) * src_px
    if decoded != target:  # a shrink: one band copied, flattened and reduced at a time
        _k, bands = plan_shrink(decoded[0], decoded[1], target)
        cost += 3 * 4 * decoded[0] * max(b.bottom - b.top for b in bands)
    cost += 2 * 4 * target[0] * target[1]  # the output picture and what the encoders hold
    return cost
