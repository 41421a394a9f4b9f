"""The note's thumbnail: the upstream picture re-encoded within NOTES_IMAGE_MAX_SIDE and NOTES_IMAGE_MAX_BYTES."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mathnotes.vision.thumbnail import MIN_SIDE, thumbnail, thumbnail_of

from .helpers import encode, render_text


def _size(jpeg: bytes) -> tuple[int, int]:
    img = Image.open(io.BytesIO(jpeg))
    assert img.format == "JPEG"
    return img.size


def _noise(width: int, height: int) -> Image.Image:
    """The worst case for JPEG: every pixel random."""
    return Image.fromarray(np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_a_page_is_shrunk_to_the_side_and_keeps_its_shape() -> None:
    page = encode(render_text(["x^2 + 1 = 0"] * 8, size=(1869, 1402)), "JPEG", quality=80)
    out = thumbnail(page, 1024, 150_000)
    assert out is not None and len(out) <= 150_000
    assert _size(out) == (935, 701)  # shrunk by 2: the smallest whole factor within 1024


def test_a_jpeg_that_already_fits_is_kept_byte_for_byte() -> None:
    small = encode(render_text(["a"], size=(600, 200)), "JPEG", quality=80)
    assert thumbnail(small, 1024, 150_000) is small


def test_a_png_page_becomes_a_jpeg() -> None:
    png = encode(render_text(["∫ x dx"], size=(900, 300)), "PNG")
    out = thumbnail(png, 1024, 150_000)
    assert out is not None and _size(out) == (900, 300)


@pytest.mark.parametrize("max_bytes", [150_000, 40_000, 8_000])
def test_noise_fits_the_byte_limit_by_lowering_quality_then_the_side(max_bytes: int) -> None:
    page = encode(_noise(1600, 1200), "JPEG", quality=90)
    out = thumbnail(page, 1024, max_bytes)
    assert out is not None and len(out) <= max_bytes
    assert max(_size(out)) <= 1024


def test_nothing_fits_gives_none_rather_than_a_smudge() -> None:
    assert thumbnail(encode(_noise(800, 800), "JPEG", quality=95), 1024, 200) is None


@pytest.mark.parametrize("data", [b"", b"not a picture", b"\xff\xd8\xff\xe0" + b"\0" * 50])
def test_bytes_that_are_no_picture_give_none(data: bytes) -> None:
    assert thumbnail(data, 1024, 150_000) is None


def test_a_decoded_picture_is_left_untouched() -> None:
    picture = Image.new("RGBA", (2000, 500), (0, 0, 0, 0))
    out = thumbnail_of(picture, 512, 150_000)
    assert out is not None and _size(out) == (500, 125)  # by 4
    assert picture.size == (2000, 500) and picture.mode == "RGBA"
    assert Image.open(io.BytesIO(out)).convert("RGB").getpixel((10, 10)) == (255, 255, 255)  # flattened on white


def test_the_smallest_side_is_a_floor() -> None:
    out = thumbnail_of(_noise(300, 300), 1024, 3_000)
    assert out is None or max(_size(out)) >= MIN_SIDE
