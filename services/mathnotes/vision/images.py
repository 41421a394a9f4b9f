"""Image maths: sniff, decode, orient, guard and shrink a photo to what the model reads.

Pure functions over bytes (no I/O besides Pillow's decoders). :func:`prepare`
turns whatever a phone sends (JPEG, PNG, WebP, HEIC, the first frame of a GIF)
into an upright JPEG (or PNG, when that is smaller for a lossless source) of at
most ``max_pixels`` pixels, stripped of metadata. Every refusal is an
:class:`ImageError` with a precise code the API answers with status 400.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import pillow_heif
from PIL import Image, UnidentifiedImageError

from .errors import VisionError
from .pixels import ShapeError, check_shape, decode_cost, fit_within
from .shrink import TURNED, orientation, rows_of, shrink, upright

__all__ = [
    "ImageError",
    "Prepared",
    "decode",
    "decode_base64",
    "prepare",
    "sniff",
]

pillow_heif.register_heif_opener()
# Pillow's own bomb check (on open, at 179 MP) would hide the precise refusals: ours run on the
# header before anything is decoded (_checked), so it is off for this process.
Image.MAX_IMAGE_PIXELS = None

Hold = Callable[[int], AbstractContextManager[object]]  # the decode budget: hold(bytes) around a decode

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}


class ImageError(VisionError):
    """An image the service refuses; ``code`` is stable, ``message`` says why (status 400, or 415)."""


@dataclass(frozen=True)
class Prepared:
    """An image ready to send upstream."""

    data: bytes
    mime: str
    width: int
    height: int
    source_format: str
    source_width: int
    source_height: int
    bytes_received: int

    @property
    def bytes_sent(self) -> int:
        return len(self.data)

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def sniff(data: bytes) -> str | None:
    """The format named by the magic bytes, or None when it is none we accept."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


_B64_CLEAN = str.maketrans({" ": None, "\n": None, "\r": None, "\t": None, "-": "+", "_": "/"})
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w.+-]+=[^;,]*)*)(?P<b64>;base64)?,", re.I)


def decode_base64(text: str) -> bytes:
    """Bytes of a ``data:`` URL or of bare base64 (standard or URL-safe, padding optional)."""
    match = _DATA_URL.match(text)
    if match:
        if not match.group("b64"):
            raise ImageError("invalid_data_url", "data URLs must be base64-encoded (data:image/png;base64,...)")
        text = text[match.end() :]
    compact = text.translate(_B64_CLEAN)  # drop whitespace, map the URL-safe alphabet
    if not compact.strip("="):
        raise ImageError("empty_image", "the image is empty")
    compact = compact.rstrip("=")
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)  # validate: any other character is refused
    except (binascii.Error, ValueError):
        raise ImageError("invalid_base64", "image is neither an http(s) URL, a data URL nor valid base64") from None


def _checked(fmt: str, size: tuple[int, int], max_input_pixels: int) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageError("corrupt_image", f"the {fmt.upper()} data cannot be decoded")
    try:
        check_shape(width, height)
    except ShapeError as err:
        raise ImageError(err.code, err.message) from None
    if width * height > max_input_pixels:
        raise ImageError(
            "image_too_large", f"image has {width}x{height} pixels; the limit is {max_input_pixels} pixels"
        )


def _webp_size(data: bytes) -> tuple[int, int]:
    """The canvas size in a WebP header (VP8, VP8L or VP8X), read without libwebp."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise ImageError("corrupt_image", "the WEBP data cannot be decoded")


def _jpeg_multiscan(data: bytes) -> bool:
    """Whether a JPEG has more than one scan (progressive or not), so libjpeg buffers all its coefficients.

    Walks the marker segments to the first SOS of the main picture (an EXIF thumbnail lives
    inside APP1 and is skipped with it), then looks for another SOS: inside entropy-coded
    data a 0xFF byte is always followed by 0x00 or a restart marker, never by 0xDA.
    """
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return True  # not a clean segment layout: assume the expensive kind
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xDA:
            return data.find(b"\xff\xda", pos + 2) >= 0
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return True


def _open(data: bytes, fmt: str) -> Image.Image:
    """The image with only its header read (for WebP, libwebp's canvas is allocated here)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageError("image_too_large", "the image has more pixels than any limit allows") from None
    except (OSError, ValueError, SyntaxError, EOFError, RuntimeError, MemoryError) as err:
        raise _unreadable(err, fmt) from None


def _load(img: Image.Image, fmt: str) -> None:
    try:
        img.seek(0)
        img.load()
    except (OSError, ValueError, SyntaxError, EOFError, RuntimeError, MemoryError) as err:
        raise _unreadable(err, fmt) from None


def _unreadable(err: Exception, fmt: str) -> ImageError:
    if isinstance(err, OSError) and not isinstance(err, UnidentifiedImageError) and "truncated" in str(err).lower():
        return ImageError("truncated_image", f"the {fmt.upper()} file is truncated")
    return ImageError("corrupt_image", f"the {fmt.upper()} data cannot be decoded")


def _hold(hold: Hold | None, cost: int) -> AbstractContextManager[object]:
    return hold(cost) if hold is not None else nullcontext()


def decode(
    data: bytes, max_input_pixels: int, target_pixels: int, hold: Hold | None = None
) -> tuple[Image.Image, str, tuple[int, int]]:
    """The first frame upright, in RGB (or L), at most ``target_pixels``; its format and full upright size.

    Only the header is read before ``hold(cost)`` (the decode budget) is entered with what
    the decode may take at its peak (:func:`~mathnotes.vision.pixels.decode_cost`). A JPEG is
    decoded straight at a reduced scale no smaller than the target (libjpeg's DCT scaling);
    other formats are decoded whole, then flattened and shrunk one band at a time and turned
    upright (EXIF orientation) once small, so no full-size copy is made.
    """
    if not data:
        raise ImageError("empty_image", "the image is empty")
    fmt = sniff(data)
    if fmt is None:
        raise ImageError(
            "unsupported_image_format", "not an image we read: send JPEG, PNG, WebP, HEIC or GIF", status=415
        )
    if fmt == "webp":  # libwebp allocates its canvas when the file is opened: check and hold before that
        size = _webp_size(data)
        _checked(fmt, size, max_input_pixels)
        target = fit_within(size[0], size[1], target_pixels)
        with _hold(hold, decode_cost(fmt, "RGBA", size, size, target)):
            img = _open(data, fmt)
            if img.size != size:
                raise ImageError("corrupt_image", "the WEBP data cannot be decoded")
            return _finish(img, fmt, target_pixels)
    if fmt == "heic":
        return _heic(data, max_input_pixels, target_pixels, hold)
    img = _open(data, fmt)
    source = img.size
    _checked(fmt, source, max_input_pixels)
    target = fit_within(source[0], source[1], target_pixels)
    components: list[tuple[int, int]] = []
    if fmt == "jpeg":
        components = [(int(layer[1]), int(layer[2])) for layer in getattr(img, "layer", None) or []]
        if img.size != target:
            img.draft("L" if img.mode == "L" else "RGB", target)
    multiscan = fmt == "jpeg" and _jpeg_multiscan(data)
    with _hold(hold, decode_cost(fmt, img.mode, source, img.size, target, components, multiscan)):
        return _finish(img, fmt, target_pixels, source)


def _finish(
    img: Image.Image, fmt: str, target_pixels: int, source: tuple[int, int] | None = None
) -> tuple[Image.Image, str, tuple[int, int]]:
    source = source or img.size
    _load(img, fmt)
    turn = orientation(img)
    picture = shrink(rows_of(img), img.size, fit_within(img.size[0], img.size[1], target_pixels))
    if picture is not img:
        img.close()  # the full-size picture goes before anything else is allocated
    picture = upright(picture, turn)
    return picture, fmt, (source[1], source[0]) if turn in TURNED else source


def _heic(
    data: bytes, max_input_pixels: int, target_pixels: int, hold: Hold | None
) -> tuple[Image.Image, str, tuple[int, int]]:
    """HEIC/AVIF through libheif's own RGB buffer, shrunk band by band (no full-size Pillow copy).

    libheif applies the file's rotation and mirroring itself, so the result is upright.
    """
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
        size, mode = heif.size, heif.mode
    except Exception:
        raise ImageError("corrupt_image", "the HEIC data cannot be decoded") from None
    _checked("heic", size, max_input_pixels)
    target = fit_within(size[0], size[1], target_pixels)
    with _hold(hold, decode_cost("heic", mode, size, size, target)):
        picture = _heic_shrink(heif, target)
        del heif  # libheif's buffer goes before the budget is given back
    return picture, "heic", size


def _heic_shrink(heif: pillow_heif.HeifFile, target: tuple[int, int]) -> Image.Image:
    size, mode = heif.size, heif.mode
    try:
        pixels, stride = memoryview(heif.data), heif.stride
    except Exception:
        raise ImageError("corrupt_image", "the HEIC data cannot be decoded") from None

    def rows_at(top: int, bottom: int) -> Image.Image:
        band = pixels[top * stride : bottom * stride]
        return Image.frombuffer(mode, (size[0], bottom - top), band, "raw", mode, stride, 1)  # type: ignore[arg-type]

    picture = shrink(rows_at, size, target)
    return picture.copy() if picture.size == size else picture  # never a view of libheif's buffer


def _encode(img: Image.Image, fmt: str, quality: int, progressive: bool = False) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        img.save(out, "PNG", optimize=True)
    else:
        img.save(out, "JPEG", quality=quality, optimize=True, progressive=progressive)
    return out.getvalue()


def prepare(
    data: bytes, *, max_pixels: int, max_input_pixels: int, quality: int = 80, hold: Hold | None = None
) -> Prepared:
    """Decode (within ``hold``, the decode budget), orient, shrink to ``max_pixels``, re-encode without metadata."""
    img, fmt, (source_w, source_h) = decode(data, max_input_pixels, max_pixels, hold)
    # progressive scans save ~5% more bytes but cost 2-3x the encoding time: worth it for big photos only
    big = source_w * source_h > max_pixels
    encoded, mime = _encode(img, "JPEG", quality, progressive=big), "image/jpeg"
    if fmt in ("png", "gif"):  # lossless sources (screenshots, scans): keep PNG when it is smaller
        png = _encode(img, "PNG", quality)
        if len(png) <= len(encoded):
            encoded, mime = png, "image/png"
    return Prepared(
        data=encoded,
        mime=mime,
        width=img.size[0],
        height=img.size[1],
        source_format=fmt,
        source_width=source_w,
        source_height=source_h,
        bytes_received=len(data),
    )


def for_ocr(
    data: bytes,
    max_input_pixels: int,
    max_pixels: int = 4_000_000,
    hold: Hold | None = None,
) -> Image.Image:
    """An upright RGB picture of moderate size for the offline OCR engine."""
    img, _fmt, _size = decode(data, max_input_pixels, max_pixels, hold)
    return img.convert("RGB")
