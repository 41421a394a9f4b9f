"""The offline backend really reads a rendered line of text (RapidOCR, models from its wheel)."""

from __future__ import annotations

import io
import subprocess
import sys

from mathnotes.vision.ocr import lines_from_boxes
from tests.support.fake_openai import FakeOpenAI

from .helpers import AppFactory, encode, render_text


def test_lines_from_boxes_orders_reading_lines() -> None:
    boxes = [
        ([[200, 12], [300, 12], [300, 40], [200, 40]], "world", 0.9),
        ([[10, 100], [90, 100], [90, 130], [10, 130]], "second", 0.95),
        ([[10, 10], [150, 10], [150, 42], [10, 42]], "hello", 0.99),
        ([[10, 200], [90, 200], [90, 230], [10, 230]], "noise", 0.1),
    ]
    assert lines_from_boxes(boxes) == ["hello world", "second"]


def test_ocr_backend_reads_a_rendered_line(make_app: AppFactory, model: FakeOpenAI) -> None:
    _app, client = make_app({"DASHSCOPE_API_KEY": None, "VISION_BACKEND": "auto"})
    page = encode(render_text(["Newton 1687 Principia", "Euler 1748"], (1000, 260), 48), "PNG")
    resp = client.post(
        "/api/vision/analyze",
        data={"file": (io.BytesIO(page), "page.png"), "task": "solve"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["backend"] == "ocr" and body["model"] == "rapidocr"
    text = body["markdown"].replace(" ", "")
    assert "Newton1687Principia" in text and "Euler1748" in text
    assert body["markdown"].index("Newton") < body["markdown"].index("Euler")
    assert body["notes"] and "only transcribes" in body["notes"][0]
    assert model.requests == []  # no key: nothing goes to a model
    assert client.get("/ready").get_json()["checks"]["ocr"] == "ok"


def test_ocr_runs_with_no_network() -> None:
    """In a fresh network namespace (no interfaces up), the engine still loads and reads."""
    script = (
        "from mathnotes.vision.ocr import OcrEngine; from PIL import Image, ImageDraw, ImageFont; "
        "img = Image.new('RGB', (700, 120), 'white'); "
        "ImageDraw.Draw(img).text((20, 30), 'OFFLINE 42', fill='black', "
        "font=ImageFont.truetype('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', 52)); "
        "print('\\n'.join(OcrEngine().read(img)))"
    )
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", sys.executable, "-c", script],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OFFLINE42" in result.stdout.replace(" ", "")
