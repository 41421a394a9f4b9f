"""Image maths on real images drawn with Pillow: formats, EXIF orientation, downscaling, guards."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw

from mathnotes.vision.images import ImageError, decode_base64, prepare, sniff
from mathnotes.vision.pixels import fit_within, plan_shrink
from mathnotes.vision.shrink import rows_of, shrink

from .helpers import b64, data_url, encode, render_text

LIMITS = {"max_pixels": 2_621_440, "max_input_pixels": 50_000_000}


def phone_photo(width: int = 4032, height: int = 3024) -> bytes:
    """A 12 MP 'photo' of a note: paper texture noise, shading and handwriting-sized text, saved as phones do."""
    rng = random.Random(7)
    noise = Image.effect_noise((width // 4, height // 4), 40).resize((width, height))
    page = Image.merge("RGB", [noise.point(lambda v, k=k: min(255, 150 + v // 3 + k)) for k in (20, 15, 0)])
    draw = ImageDraw.Draw(page)
    for row in range(40):
        y = 120 + row * 70
        x = 150
        while x < width - 300:
            w = rng.randint(20, 120)
            draw.line([(x, y + rng.randint(-8, 8)), (x + w, y + rng.randint(-8, 8))], fill=(30, 30, 60), width=5)
            x += w + rng.randint(10, 40)
    return encode(page, "JPEG", quality=93)


def test_sniff_names_every_accepted_format() -> None:
    img = render_text(["a"], (60, 40))
    assert sniff(encode(img, "JPEG")) == "jpeg"
    assert sniff(encode(img, "PNG")) == "png"
    assert sniff(encode(img, "WEBP")) == "webp"
    assert sniff(encode(img, "GIF")) == "gif"
    assert sniff(encode(img, "HEIF")) == "heic"
    assert sniff(b"%PDF-1.7 hello") is None
    assert sniff(b"") is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF", "GIF"])
def test_every_format_decodes_to_an_upright_image(fmt: str) -> None:
    src = render_text(["$x+1$"], (320, 200))
    out = prepare(encode(src, fmt), **LIMITS)
    assert (out.width, out.height) == (320, 200)
    assert out.mime in {"image/jpeg", "image/png"}
    back = Image.open(io.BytesIO(out.data))
    assert back.size == (320, 200)
    assert out.source_format == {"HEIF": "heic"}.get(fmt, fmt.lower())


def test_gif_uses_the_first_frame() -> None:
    frames = [Image.new("RGB", (40, 40), "red"), Image.new("RGB", (40, 40), "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = prepare(buf.getvalue(), **LIMITS)
    r, _g, b = Image.open(io.BytesIO(out.data)).convert("RGB").getpixel((20, 20))  # type: ignore[misc]
    assert r > 200 and b < 50


def _exif_oriented(orientation: int, fmt: str = "JPEG") -> bytes:
    """Stored 200x100: left half black, right half white; EXIF says how to turn it for display."""
    img = Image.new("RGB", (200, 100), "white")
    ImageDraw.Draw(img).rectangle([0, 0, 99, 99], fill="black")
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x8825] = {1: "N"}  # a GPS block, which must not travel upstream
    return encode(img, fmt, exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize("fmt", ["JPEG", "HEIF", "WEBP"])
def test_exif_orientation_is_applied_and_metadata_stripped(fmt: str) -> None:
    data = _exif_oriented(6, fmt)  # rotate 90° clockwise to display
    out = prepare(data, **LIMITS)
    assert (out.width, out.height) == (100, 200)
    assert (out.source_width, out.source_height) == (100, 200)
    shown = Image.open(io.BytesIO(out.data)).convert("L")
    assert shown.getpixel((50, 20)) < 60  # the stored left (black) half is now on top
    assert shown.getpixel((50, 180)) > 200
    assert not shown.getexif()


def test_exif_orientation_survives_downscaling() -> None:
    img = Image.new("RGB", (3000, 1000), "white")
    ImageDraw.Draw(img).rectangle([0, 0, 1499, 999], fill="black")
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90° counter-clockwise to display
    out = prepare(encode(img, "JPEG", exif=exif.tobytes()), max_pixels=300_000, max_input_pixels=10**8)
    assert out.height > out.width
    assert out.width * out.height <= 300_000
    shown = Image.open(io.BytesIO(out.data)).convert("L")
    assert shown.getpixel((out.width // 2, out.height - 10)) < 60  # stored left half ends at the bottom


def test_twelve_megapixel_photo_sends_at_most_a_fifth_of_its_bytes() -> None:
    data = phone_photo()
    out = prepare(data, **LIMITS)
    assert (out.source_width, out.source_height) == (4032, 3024)
    assert out.width * out.height <= LIMITS["max_pixels"]
    assert abs(out.width / out.height - 4032 / 3024) < 0.01
    assert out.bytes_sent * 5 <= out.bytes_received, (out.bytes_sent, out.bytes_received)


def test_transparent_png_is_flattened_on_white() -> None:
    img = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    out = prepare(encode(img, "PNG"), **LIMITS)
    assert Image.open(io.BytesIO(out.data)).convert("L").getpixel((25, 25)) > 250


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(40_000, 20_000), (20_000, 3_000)])
def test_decompression_bomb_is_refused_before_decoding(size: tuple[int, int]) -> None:
    with pytest.raises(ImageError) as err:
        prepare(_png_header_only(*size), **LIMITS)
    assert err.value.code == "image_too_large" and err.value.status == 400


def test_huge_real_image_over_the_limit_is_refused() -> None:
    big = encode(Image.new("L", (8000, 7000), 255), "PNG")  # 56 MP of white: a small file
    with pytest.raises(ImageError) as err:
        prepare(big, **LIMITS)
    assert err.value.code == "image_too_large"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_files_are_named_truncated_or_corrupt(fmt: str) -> None:
    data = encode(render_text(["truncated"], (400, 300)), fmt)
    with pytest.raises(ImageError) as err:
        prepare(data[: len(data) // 2], **LIMITS)
    assert err.value.code in {"truncated_image", "corrupt_image"}
    assert err.value.status == 400
    if fmt in ("JPEG", "PNG"):
        assert err.value.code == "truncated_image"


def test_corrupt_unknown_and_empty_images_have_precise_codes() -> None:
    cases = {
        b"\xff\xd8\xff" + bytes(range(256)) * 4: ("corrupt_image", 400),
        b"<html>not an image</html>": ("unsupported_image_format", 415),
        b"%PDF-1.4\n": ("unsupported_image_format", 415),
        b"": ("empty_image", 400),
    }
    for data, (code, status) in cases.items():
        with pytest.raises(ImageError) as err:
            prepare(data, **LIMITS)
        assert (err.value.code, err.value.status) == (code, status), data[:20]


def test_base64_in_every_spelling() -> None:
    raw = bytes(range(200))
    text = b64(raw)
    assert decode_base64(text) == raw
    assert decode_base64(data_url(raw)) == raw
    assert decode_base64(text.rstrip("=")) == raw
    assert decode_base64(text.replace("+", "-").replace("/", "_")) == raw
    assert decode_base64("\n".join(text[i : i + 76] for i in range(0, len(text), 76))) == raw
    assert decode_base64("data:image/png;name=a.png;base64," + text) == raw
    for bad, code in [("not base64 at all!", "invalid_base64"), ("data:image/png,rawtext", "invalid_data_url")]:
        with pytest.raises(ImageError) as err:
            decode_base64(bad)
        assert err.value.code == code
    with pytest.raises(ImageError) as err:
        decode_base64("   ")
    assert err.value.code == "empty_image"


@given(st.integers(1, 70_000), st.integers(1, 70_000), st.integers(1, 50_000_000))
def test_fit_within_is_the_largest_size_of_the_same_aspect_within_the_budget(
    width: int, height: int, budget: int
) -> None:
    w, h = fit_within(width, height, budget)
    assert 1 <= w <= width and 1 <= h <= height
    if width * height <= budget:
        assert (w, h) == (width, height)
        return
    assert w * h <= budget
    # each side is the exact scaled side s * W rounded down, s = sqrt(budget / (W * H)),
    # i.e. w^2 <= budget * W / H < (w + 1)^2, in integers (no float can blur it): aspect kept
    # within rounding, and neither side could grow by one pixel
    if w * w * height <= budget * width and h * h * width <= budget * height:
        assert budget * width < (w + 1) * (w + 1) * height
        assert budget * height < (h + 1) * (h + 1) * width
        assert abs(w * height - h * width) <= width + height  # within one pixel of the exact ratio
    else:  # the short side would round to 0: it is 1 and the long one takes what the budget leaves
        assert (w, h) in ((1, min(height, budget)), (min(width, budget), 1))


@pytest.mark.parametrize(
    ("size", "code"),
    [
        ((1, 49_999_999), "image_too_long"),
        ((65_501, 10_000), "image_too_long"),
        ((100, 30_000), "image_aspect_ratio"),
        ((20_001, 100), "image_aspect_ratio"),
        ((60_000, 60_000), "image_too_large"),
        ((20_000, 3_000), "image_too_large"),
    ],
)
def test_extreme_shapes_are_refused_from_the_header_with_precise_codes(size: tuple[int, int], code: str) -> None:
    with pytest.raises(ImageError) as err:
        prepare(_png_header_only(*size), **LIMITS)
    assert (err.value.code, err.value.status) == (code, 400)
    assert f"{size[0]}x{size[1]}" in err.value.message


@pytest.mark.parametrize("size", [(10, 2_000), (65_500, 328), (30_000, 150)])
def test_shapes_at_the_limits_are_prepared(size: tuple[int, int]) -> None:
    out = prepare(encode(Image.new("L", size, 255), "PNG"), **LIMITS)
    assert out.width * out.height <= LIMITS["max_pixels"]
    assert abs(out.width / out.height - size[0] / size[1]) / (size[0] / size[1]) < 0.01 + 1 / min(out.width, out.height)
    Image.open(io.BytesIO(out.data)).load()


@pytest.mark.parametrize("size", [(3001, 2203), (900, 4100), (5000, 700)])
def test_shrinking_band_by_band_gives_the_whole_picture_resize(size: tuple[int, int]) -> None:
    rng = random.Random(size[0])
    img = Image.effect_noise((size[0] // 8, size[1] // 8), 60).resize(size).convert("RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(200):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        draw.line([(x, y), (x + 300, y + rng.randint(-40, 40))], fill=(0, 0, 90), width=2)
    target = fit_within(size[0], size[1], 300_000)
    factor, bands = plan_shrink(size[0], size[1], target)
    assert len(bands) > 1  # the picture really is done in bands
    banded = shrink(rows_of(img), size, target)
    reduced = img.reduce(factor) if factor > 1 else img
    whole = reduced.resize(target, Image.Resampling.LANCZOS, box=(0, 0, size[0] / factor, size[1] / factor))
    diff = ImageChops.difference(banded, whole).convert("L")
    hist = diff.histogram()
    near = sum(hist[:3]) / (target[0] * target[1])
    assert near > 0.99 and max(i for i, n in enumerate(hist) if n) <= 12, (near, hist[:16])  # rounding only


def test_transparency_is_flattened_band_by_band_without_dark_fringes() -> None:
    img = Image.new("RGBA", (4000, 3000), (0, 0, 0, 0))  # fully transparent black
    ImageDraw.Draw(img).rectangle([1000, 1000, 2999, 1999], fill=(255, 0, 0, 255))
    out = prepare(encode(img, "PNG"), max_pixels=300_000, max_input_pixels=10**8)
    shown = Image.open(io.BytesIO(out.data)).convert("RGB")
    assert shown.getpixel((2, 2)) == (255, 255, 255)
    assert min(shown.getpixel((x, out.height // 2)) for x in range(out.width))[0] > 200  # type: ignore[index]
