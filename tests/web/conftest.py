"""Browser fixtures: Debian's chromium driven headless by Selenium + chromedriver, against the real service.

``page(env)`` starts ``mathnotes-vision`` (fake model, extra environment) and a fresh
headless Chromium (own profile dir, phone or desktop viewport) opened at ``/``.
Screenshots go to ``test-artifacts/web/`` at the repo root. What tests import is in ``helpers.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import RunService, ServiceProcess, running

from .helpers import PHONE, OpenPage, Page

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")


def launch(profile: Path, accept_language: str = "en-US,en") -> webdriver.Chrome:
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(binary):
            pytest.fail(f"{binary} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--lang={accept_language.split(',')[0]}",
        f"--accept-lang={accept_language}",
        "--window-size=1366,900",
    ):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": accept_language})
    service = Service(executable_path=CHROMEDRIVER, log_output=str(profile.parent / "chromedriver.log"))
    return webdriver.Chrome(options=options, service=service)


def vision_env(model: FakeOpenAI, state: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    state.mkdir(parents=True, exist_ok=True)
    return {
        "DASHSCOPE_API_KEY": "sk-test",
        "DASHSCOPE_BASE_URL": model.base_url,
        "VISION_TELEMETRY": "false",
        "VISION_WORKERS": "1",
        "VISION_THREADS": "8",
        "VISION_BACKOFF_S": "0.01",
        "VISION_STATE_DIR": str(state),
        **(env or {}),
    }


@pytest.fixture(scope="session")
def shared_vision(fake_model: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One service with the default settings for the tests that need nothing special (saves start-ups)."""
    work = tmp_path_factory.mktemp("web-vision")
    env = vision_env(fake_model, work / "state", {"RATE_LIMIT_MAX_REQUESTS": "100000"})
    yield from running(ServiceProcess.on_free_port("mathnotes-vision", work, env))


@pytest.fixture
def open_page(
    run_service: RunService, shared_vision: ServiceProcess, model: FakeOpenAI, tmp_path: Path
) -> Iterator[OpenPage]:
    """``open_page(env=None, viewport=PHONE, accept_language="en-US,en", service=None)`` → a Page at ``/``.

    Without ``env`` the page talks to the shared service; with it (``{}`` too), to a service of its own
    (its own notes library); with ``service``, to that one (a second browser on the same service).
    """
    drivers: list[webdriver.Chrome] = []
    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium: no usage statistics

    def start(
        env: dict[str, str] | None = None,
        viewport: dict[str, Any] = PHONE,
        accept_language: str = "en-US,en",
        service: ServiceProcess | None = None,
    ) -> Page:
        n = len(drivers)
        if service is None and env is None:
            service = shared_vision
        elif service is None:
            service = run_service("mathnotes-vision", vision_env(model, tmp_path / f"state-{n}", env))
        driver = launch(tmp_path / f"profile-{n}", accept_language)
        drivers.append(driver)
        page = Page(driver, service, model)
        page.viewport(viewport)
        page.open()
        return page

    yield start
    for driver in drivers:
        driver.quit()
