"""Browser fixtures: Debian's chromium driven headless by Selenium + chromedriver, against the real service.

``page(env)`` starts ``mathnotes-vision`` (fake model, extra environment) and a fresh
headless Chromium (own profile dir, phone or desktop viewport) opened at ``/``.
Screenshots go to ``test-artifacts/web/`` at the repo root.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import ServiceProcess

from ..conftest import RunService

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WAIT_S = 30.0  # upper bound for a page state to appear (not a timing assertion)

PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
DESKTOP = {"width": 1366, "height": 900, "deviceScaleFactor": 1, "mobile": False}

MATH_ANSWER = (
    "## Transcription\n\n"
    "The note reads: $x^2 + 2x + 1 = 0$, so $(x+1)^2 = 0$.\n\n"
    "$$\\int_0^1 x\\,dx = \\frac{1}{2}$$\n\n"
    "1. Factor the left side.\n"
    "2. The root is $x = -1$ (a double root).\n\n"
    "**Answer:** $x = -1$"
)


def math_note(path: Path, size: tuple[int, int] = (900, 360), noise: bool = False) -> Path:
    """A white page with handwritten-style maths lines (Pillow), saved as PNG or JPEG by suffix."""
    img = Image.new("RGB", size, "white")
    if noise:
        img = Image.effect_noise(size, 90).convert("RGB")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 44)
    for i, line in enumerate(["x² + 2x + 1 = 0", "∫₀¹ x dx = 1/2", "Solve for x"]):
        draw.text((30, 30 + i * 90), line, fill="black", font=font)
    # a mark of its own, so no two tests' images share a cached answer on the shared service
    draw.text((size[0] - 150, size[1] - 30), uuid.uuid4().hex[:12], fill="gray", font=ImageFont.truetype(FONT, 14))
    img.save(path, quality=92) if path.suffix == ".jpg" else img.save(path)
    return path


@dataclass
class Page:
    driver: webdriver.Chrome
    service: ServiceProcess
    model: FakeOpenAI

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait(self, condition: Callable[[webdriver.Chrome], Any], what: str) -> Any:
        return WebDriverWait(self.driver, WAIT_S, poll_frequency=0.05).until(condition, message=what)

    def open(self) -> None:
        self.driver.get(self.service.url + "/")
        self.wait(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"), "the page to start")

    def viewport(self, metrics: dict[str, Any]) -> None:
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)

    def choose(self, path: Path) -> None:
        self.find("#file").send_keys(str(path))
        self.wait(lambda d: d.find_element(By.ID, "submit").is_enabled(), "the image to be ready for upload")

    def click(self, css: str) -> None:
        """Click like a user who first scrolls the control into the middle of the screen."""
        element = self.find(css)
        self.js("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def analyze(self) -> None:
        self.click("#submit")
        self.wait(lambda d: d.execute_script("return !document.body.classList.contains('busy')"), "the answer")

    def text(self, css: str) -> str:
        return str(self.js("return document.querySelector(arguments[0]).textContent", css)).strip()

    def screenshot(self, name: str, full: bool = False) -> Path:
        """Save ``test-artifacts/web/<name>.png``: the viewport, or the whole page when ``full``."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        if full:
            shot = self.driver.execute_cdp_cmd(
                "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
            )
            path.write_bytes(base64.b64decode(shot["data"]))
        else:
            self.driver.save_screenshot(str(path))
        return path


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
    proc = ServiceProcess.on_free_port("mathnotes-vision", work, env)
    proc.start()
    yield proc
    proc.stop()


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(
    run_service: RunService, shared_vision: ServiceProcess, model: FakeOpenAI, tmp_path: Path
) -> Iterator[OpenPage]:
    """``open_page(env=None, viewport=PHONE, accept_language="en-US,en")`` → a Page at ``/``.

    Without ``env`` the page talks to the shared service; with it, to a service of its own.
    """
    drivers: list[webdriver.Chrome] = []
    os.environ.setdefault("SE_AVOID_STATS", "true")  # Selenium: no usage statistics

    def start(
        env: dict[str, str] | None = None, viewport: dict[str, Any] = PHONE, accept_language: str = "en-US,en"
    ) -> Page:
        n = len(drivers)
        service = (
            run_service("mathnotes-vision", vision_env(model, tmp_path / f"state-{n}", env)) if env else shared_vision
        )
        driver = launch(tmp_path / f"profile-{n}", accept_language)
        drivers.append(driver)
        page = Page(driver, service, model)
        page.viewport(viewport)
        page.open()
        return page

    yield start
    for driver in drivers:
        driver.quit()
