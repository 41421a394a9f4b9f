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
import math
import re
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "ImageError",
    "Prepared",
    "decode",
    "decode_base64",
    "fit_within",
    "prepare",
    "sniff",
]

pillow_heif.register_heif_opener()

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
FORMATS = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif", "heic": "image/heic"}


class ImageError(Exception):
    """An image the service refuses; ``code`` is stable, ``message`` says why."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


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


def fit_within(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest size with the same aspect ratio and at most ``max_pixels`` pixels."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    w, h = max(1, int(width * scale)), max(1, int(height * scale))
    while w * h > max_pixels:  # rounding guard
        w, h = max(1, w - 1), max(1, h - 1)
    return w, h


def decode(
    data: bytes, max_input_pixels: int, target_pixels: int | None = None
) -> tuple[Image.Image, str, tuple[int, int]]:
    """The first frame upright (EXIF orientation applied) in RGB, its format, and its full upright size.

    With ``target_pixels``, a JPEG is decoded directly at a reduced scale no smaller than
    that (libjpeg's DCT scaling), which is several times faster for a phone photo.
    """
    if not data:
        raise ImageError("empty_image", "the image is empty")
    fmt = sniff(data)
    if fmt is None:
        raise ImageError(
            "unsupported_image_format", "not an image we read: send JPEG, PNG, WebP, HEIC or GIF", status=415
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            img = Image.open(io.BytesIO(data))
        width, height = img.size
        if width * height > max_input_pixels:
            raise ImageError(
                "image_too_large",
                f"image has {width}x{height} pixels; the limit is {max_input_pixels} pixels",
            )
        img.seek(0)
        if target_pixels is not None and fmt == "jpeg" and width * height > target_pixels:
            img.draft("RGB", fit_within(width, height, target_pixels))
        img.load()
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError("image_too_large", f"image exceeds the limit of {max_input_pixels} pixels") from None
    except UnidentifiedImageError:
        raise ImageError("corrupt_image", f"the {fmt.upper()} data cannot be decoded") from None
    except OSError as err:
        if "truncated" in str(err).lower():
            raise ImageError("truncated_image", f"the {fmt.upper()} file is truncated") from None
        raise ImageError("corrupt_image", f"the {fmt.upper()} data cannot be decoded") from None
    except (ValueError, SyntaxError, EOFError, RuntimeError):
        raise ImageError("corrupt_image", f"the {fmt.upper()} data cannot be decoded") from None
    loaded = img.size
    upright: Image.Image = img
    try:
        if img.getexif().get(0x0112, 1) != 1:  # only turn (and copy) pictures that need it
            upright = ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block must not lose the picture
        upright = img
    turned = upright.size != loaded
    return _to_rgb(upright), fmt, ((height, width) if turned else (width, height))


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode in ("RGB", "L"):
        return img
    return img.convert("RGB")


def _encode(img: Image.Image, fmt: str, quality: int, progressive: bool = False) -> bytes:
    out = io.BytesIO()
    if fmt == "PNG":
        img.save(out, "PNG", optimize=True)
    else:
        img.save(out, "JPEG", quality=quality, optimize=True, progressive=progressive)
    return out.getvalue()


def prepare(data: bytes, *, max_pixels: int, max_input_pixels: int, quality: int = 80) -> Prepared:
    """Decode, orient, shrink to ``max_pixels`` and re-encode without metadata."""
    img, fmt, (source_w, source_h) = decode(data, max_input_pixels, target_pixels=max_pixels)
    target = fit_within(source_w, source_h, max_pixels)
    if target != img.size:
        img = img.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
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


def for_ocr(data: bytes, max_input_pixels: int, max_pixels: int = 4_000_000) -> Image.Image:
    """An upright RGB picture of moderate size for the offline OCR engine."""
    img, _fmt, _size = decode(data, max_input_pixels, target_pixels=max_pixels)
    target = fit_within(img.size[0], img.size[1], max_pixels)
    if target != img.size:
        img = img.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return img.convert("RGB")
