"""The offline backend: RapidOCR (ONNX models shipped inside its wheel) reads the text.

Used when no model key is configured or ``VISION_BACKEND=ocr``, so the stack works
with no cloud account. It transcribes text only: no LaTeX, no solving. The engine
loads once, lazily, and runs one image at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["OCR_MODEL", "OcrEngine", "lines_from_boxes"]

OCR_MODEL = "rapidocr"

Box = tuple[Sequence[Sequence[float]], str, float]


def lines_from_boxes(boxes: Sequence[Box], min_score: float = 0.3) -> list[str]:
    """Group detected text boxes into reading-order lines (top to bottom, left to right)."""
    items = []
    for corners, text, score in boxes:
        if not text.strip() or score < min_score:
            continue
        ys = [float(p[1]) for p in corners]
        xs = [float(p[0]) for p in corners]
        items.append((min(ys), max(ys), min(xs), text.strip()))
    items.sort(key=lambda item: (item[0] + item[1]) / 2)
    lines: list[list[tuple[float, float, float, str]]] = []
    for item in items:
        centre = (item[0] + item[1]) / 2
        if lines:
            top = min(i[0] for i in lines[-1])
            bottom = max(i[1] for i in lines[-1])
            if top <= centre <= bottom:
                lines[-1].append(item)
                continue
        lines.append([item])
    return [" ".join(i[3] for i in sorted(line, key=lambda i: i[2])) for line in lines]


class OcrEngine:
    """A lazily loaded RapidOCR engine, safe to share between threads."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._lock = threading.Lock()
        self.error: str | None = None

    def _load(self) -> Any:
        if self._engine is None:
            from rapidocr_onnxruntime import RapidOCR  # heavy import, only when OCR is used

            self._engine = RapidOCR()
        return self._engine

    def ready(self) -> bool:
        """True when the engine loads (its models are in the installed wheel)."""
        try:
            with self._lock:
                self._load()
            return True
        except Exception as err:  # report, never crash /ready
            self.error = f"{type(err).__name__}: {err}"
            return False

    def read(self, image: Image.Image) -> list[str]:
        """The text lines of an upright RGB image, in reading order."""
        with self._lock:
            engine = self._load()
            result, _elapsed = engine(np.asarray(image.convert("RGB")))
        return lines_from_boxes(result or [])
