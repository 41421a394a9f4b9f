"""Vision fixtures: real images drawn with Pillow, settings and in-process apps against the fake model."""

from __future__ import annotations

import base64
import io
import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image, ImageDraw, ImageFont

from mathnotes.common.settings import load
from mathnotes.vision.app import VisionState, create_app
from mathnotes.vision.settings import VisionSettings
from mathnotes.vision.upstream import Upstream
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import Managed, ServerUnavailable

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
API_KEY = "sk-test-0123456789abcdef"


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


@pytest.fixture(scope="session")
def note_jpeg() -> bytes:
    """A note with real math typography (DejaVu has the integral, root and super/subscript glyphs)."""
    return encode(render_text(["∫₀¹ x² dx = ⅓", "x² + 2x + 1 = (x + 1)²", "√(a² + b²) = c"]), "JPEG", quality=90)


def service_env(model: FakeOpenAI, **extra: str) -> dict[str, str]:
    """Settings for a ``mathnotes-vision`` subprocess (``run_service``) answering through the fake model."""
    return {"DASHSCOPE_API_KEY": "sk-x", "DASHSCOPE_BASE_URL": model.base_url, "VISION_TELEMETRY": "false", **extra}


Settings = Callable[..., VisionSettings]


@pytest.fixture
def make_settings(model: FakeOpenAI) -> Settings:
    """Settings from an environment dict over test defaults (fake model, no telemetry, fast retries)."""

    def build(env: dict[str, str] | None = None) -> VisionSettings:
        base = {
            "DASHSCOPE_API_KEY": API_KEY,
            "DASHSCOPE_BASE_URL": model.base_url,
            "VISION_TELEMETRY": "false",
            "VISION_BACKOFF_S": "0.01",
            "VISION_TIMEOUT_S": "5",
            "LOG_FORMAT": "json",
        }
        base.update(env or {})
        return load(VisionSettings, {k: v for k, v in base.items() if v is not None}, env_file="/nonexistent")

    return build


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


AppFactory = Callable[..., tuple[Flask, FlaskClient]]


@pytest.fixture
def make_app(make_settings: Settings) -> Iterator[AppFactory]:
    """``make_app(env, sleeps=None)`` → (app, test client); apps are closed after the test."""
    apps: list[Flask] = []

    def build(env: dict[str, str] | None = None, sleeps: Sleeps | None = None) -> tuple[Flask, FlaskClient]:
        settings = make_settings(env)
        upstream = Upstream(settings, sleep=sleeps) if sleeps is not None else None
        app = create_app(settings, upstream=upstream)
        apps.append(app)
        return app, app.test_client()

    yield build
    for app in apps:
        state = app.extensions["vision"]
        assert isinstance(state, VisionState)
        state.close()


@pytest.fixture
def client(make_app: AppFactory) -> FlaskClient:
    return make_app()[1]


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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    server = Redis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
