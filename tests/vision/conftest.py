"""Vision fixtures: settings and in-process apps against the fake model, a second fake model, Redis.

The helpers that tests import (images, settings for a subprocess, types) are in ``helpers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mathnotes.common.settings import load
from mathnotes.vision.app import create_app
from mathnotes.vision.metrics import VisionMetrics
from mathnotes.vision.settings import VisionSettings
from mathnotes.vision.state import VisionState
from mathnotes.vision.upstream import Upstream
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import running

from .helpers import API_KEY, AppFactory, Redis, Settings, Sleeps, encode, render_text
from .notes_helpers import KEY_A, KEY_B, NotesClient


@pytest.fixture(scope="session")
def note_jpeg() -> bytes:
    """A note with real math typography (DejaVu has the integral, root and super/subscript glyphs)."""
    return encode(render_text(["∫₀¹ x² dx = ⅓", "x² + 2x + 1 = (x + 1)²", "√(a² + b²) = c"]), "JPEG", quality=90)


@pytest.fixture(scope="session")
def fake_second_model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def second_model(fake_second_model: FakeOpenAI) -> FakeOpenAI:
    """Another OpenAI-compatible endpoint (a fallback's own, a vLLM, a DeepSeek), reset for one test."""
    fake_second_model.reset()
    return fake_second_model


@pytest.fixture
def make_settings(model: FakeOpenAI, tmp_path: Path) -> Settings:
    """Settings from an environment dict over test defaults (fake model, no telemetry, fast retries,
    the notes library in SQLite under the test's own folder)."""

    def build(env: dict[str, str] | None = None) -> VisionSettings:
        base = {
            "DASHSCOPE_API_KEY": API_KEY,
            "DASHSCOPE_BASE_URL": model.base_url,
            "VISION_TELEMETRY": "false",
            "VISION_BACKOFF_S": "0.01",
            "VISION_TIMEOUT_S": "5",
            "LOG_FORMAT": "json",
            "NOTES_DIR": str(tmp_path / "notes"),
        }
        base.update(env or {})
        return load(VisionSettings, {k: v for k, v in base.items() if v is not None}, env_file="/nonexistent")

    return build


@pytest.fixture
def make_app(make_settings: Settings) -> Iterator[AppFactory]:
    """``make_app(env, sleeps=None)`` → (app, test client); apps are closed after the test."""
    apps: list[Flask] = []

    def build(env: dict[str, str] | None = None, sleeps: Sleeps | None = None) -> tuple[Flask, FlaskClient]:
        settings = make_settings(env)
        metrics = VisionMetrics()
        upstream = Upstream(settings, metrics, sleep=sleeps) if sleeps is not None else None
        app = create_app(settings, upstream=upstream, metrics=metrics)
        apps.append(app)
        return app, app.test_client()

    yield build
    for app in apps:
        VisionState.of(app).close()


@pytest.fixture
def client(make_app: AppFactory) -> FlaskClient:
    return make_app()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Redis]:
    yield from running(Redis(tmp_path_factory.mktemp("redis")))


@pytest.fixture(params=["sqlite", "postgres"])
def notes_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The notes library's settings on each backend: SQLite in the test's folder, or a new PostgreSQL database."""
    env = {"NOTES_DIR": str(tmp_path / f"notes-{request.param}")}
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_db")
    return env


@pytest.fixture
def notes(make_app: AppFactory, notes_env: dict[str, str], model: FakeOpenAI) -> NotesClient:
    """A vision app with two client keys on each notes backend, and a client that adds and finds notes."""
    _app, client = make_app({**notes_env, "VISION_API_KEYS": f"{KEY_A},{KEY_B}", "RATE_LIMIT_MAX_REQUESTS": "100000"})
    return NotesClient(client, model)
