"""Browser test helpers: viewports, a maths note drawn with Pillow, the :class:`Page` driver, JS module runs.

Fixtures (the service, Chromium) live in ``conftest.py``; everything a test module imports lives here.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import ServiceProcess

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


OpenPage = Callable[..., Page]  # the open_page fixture: open_page(env=None, viewport=PHONE, ..., service=None)


def run_module(page: Page, body: str) -> Any:
    """Run ``body`` (an async function body with the page's modules imported) and return its result."""
    script = f"""
    const done = arguments[arguments.length - 1];
    (async () => {{
      const sse = await import('./assets/js/sse.js');
      const render = await import('./assets/js/render.js');
      const errors = await import('./assets/js/errors.js');
      const image = await import('./assets/js/image.js');
      {body}
    }})().then(done, (e) => done({{error: String(e && e.stack || e)}}));
    """
    result = page.driver.execute_async_script(script)
    assert not (isinstance(result, dict) and "error" in result), result
    return result
