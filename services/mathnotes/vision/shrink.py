"""Shrinking a decoded picture without full-size copies: flatten, box-reduce and Lanczos one band at a time.

Pillow's own ``resize`` and ``reduce`` on a picture with transparency first copy the
whole of it (premultiplied alpha), and flattening on white makes another full-size
copy. Here each band of source rows (:func:`~mathnotes.vision.pixels.plan_shrink`,
Lanczos support included) is cropped, flattened on white (which commutes with
resampling), reduced and resized on its own, so the extra memory is a few bands.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from .pixels import plan_shrink

__all__ = ["TURNED", "Rows", "flatten", "orientation", "rows_of", "shrink", "upright"]

Rows = Callable[[int, int], Image.Image]  # rows [top, bottom) of the source picture, full width, as an Image

_TURN = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
TURNED = frozenset({5, 6, 7, 8})  # orientations that swap width and height


def orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8; 1 for none or a broken EXIF block)."""
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block must not lose the picture
        return 1
    return value if value in _TURN else 1


def upright(img: Image.Image, turn: int) -> Image.Image:
    return img.transpose(_TURN[turn]) if turn in _TURN else img


def _sixteen_to_l(img: Image.Image) -> Image.Image:
    wide = img if img.mode == "I" else img.convert("I")
    return wide.point(lambda v: v / 256).convert("L")


def flatten(img: Image.Image) -> Image.Image:
    """RGB, or L for grey sources; transparency flattened on white; 16-bit grey scaled to 8 bits."""
    mode = img.mode
    if mode in ("RGB", "L"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I;16"):
        return _sixteen_to_l(img)
    if mode in ("I", "F"):
        return img.convert("L")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("PA", "RGBa"):
        img = img.convert("RGBA")
    elif mode == "La":
        img = img.convert("LA")
    elif mode not in ("RGBA", "LA"):
        img = img.convert("RGB")
    if img.mode in ("RGBA", "LA"):
        background = Image.new(img.mode[:-1], img.size, "white")
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img


def rows_of(img: Image.Image) -> Rows:
    return lambda top, bottom: img.crop((0, top, img.size[0], bottom))


def shrink(rows_at: Rows, size: tuple[int, int], target: tuple[int, int]) -> Image.Image:
    """The ``size`` picture whose rows ``rows_at`` gives, flattened and resized to ``target``, band by band.

    Each band is box-reduced by a whole factor, then resized with Lanczos.
    """
    width, height = size
    if size == target:
        return flatten(rows_at(0, height))
    factor, bands = plan_shrink(width, height, target)
    rows = height / target[1]  # source rows per output row
    out: Image.Image | None = None
    for band in bands:
        piece = flatten(rows_at(band.top, band.bottom))
        if factor > 1:
            piece = piece.reduce(factor)
        box = (0.0, (band.out_top * rows - band.top) / factor, width / factor,
               (band.out_bottom * rows - band.top) / factor)  # fmt: skip
        piece = piece.resize((target[0], band.out_bottom - band.out_top), Image.Resampling.LANCZOS, box=box)
        if out is None:
            out = Image.new(piece.mode, target)
        out.paste(piece, (0, band.out_top))
    assert out is not None
    return out
