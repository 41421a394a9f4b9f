"""Vision test helpers: real images drawn with Pillow, settings for the fake model, a Redis launcher.

Fixtures live in ``conftest.py``; everything a test module imports lives here.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw, ImageFont

from mathnotes.vision.settings import VisionSettings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import Managed, ServerUnavailable

__all__ = [
    "API_KEY",
    "AppFactory",
    "Redis",
    "Settings",
    "Sleeps",
    "b64",
    "data_url",
    "encode",
    "font",
    "render_text",
    "service_env",
]

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
API_KEY = "sk-test-0123456789abcdef"

Settings = Callable[..., VisionSettings]  # the make_settings fixture: settings from an environment dict
AppFactory = Callable[..., tuple[Flask, FlaskClient]]  # the make_app fixture: (app, test client)


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT, size)


def render_text(lines: list[str], size: tuple[int, int] = (900, 300), font_size: int = 44) -> Image.Image:
    """A white page with black text lines, like a scanned note."""
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((30, 30 + i * int(font_size * 1.6)), line, fill="black", font=font(font_size))
    return img


def encode(img: Image.Image, fmt: str = "JPEG", **params: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_url(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{b64(data)}"


def service_env(model: FakeOpenAI, **extra: str) -> dict[str, str]:
    """Settings for a ``mathnotes-vision`` subprocess (``run_service``) answering through the fake model."""
    return {"DASHSCOPE_API_KEY": "sk-x", "DASHSCOPE_BASE_URL": model.base_url, "VISION_TELEMETRY": "false", **extra}


class Sleeps(list[float]):
    """A stand-in for ``time.sleep`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Redis(Managed):
    """Debian's redis-server on a free loopback port, no persistence."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def argv(self) -> list[str]:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            raise ServerUnavailable("redis-server is not installed (apt-get install redis-server)")
        return [binary, "--port", str(self.port), "--bind", self.host, "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir)]  # fmt: skip
