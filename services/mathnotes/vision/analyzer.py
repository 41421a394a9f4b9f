"""One analyze request end to end: image in, answer object out (cache, model or OCR).

:meth:`Analyzer.run` yields text deltas then the final answer ``dict``; every refusal on the
way is a :class:`~mathnotes.vision.errors.VisionError` raised where it is found (the image,
the URL, the model, the decode budget) and passed on as it is: the app turns the tree into its
JSON error shape, or an ``error`` event once a stream has begun. No HTTP framework here.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from . import answer as answers
from .budget import DecodeBudget, shared_lock_path
from .cache import AnswerCache, cache_key
from .errors import AnalysisError
from .fetch import fetch_image
from .images import Prepared, decode_base64, for_ocr, prepare
from .inputs import AnalyzeRequest, image_kind
from .metrics import VisionMetrics
from .notekeeper import Notekeeper, Thumbnail
from .ocr import OCR_MODEL, OcrEngine
from .prompts import build_messages, repair_message
from .settings import VisionSettings
from .upstream import Completion, Upstream

__all__ = ["Analyzer", "Outcome"]


@dataclass
class Outcome:
    """What the request's metrics and telemetry need, filled in as the request proceeds."""

    task: str = "transcribe"
    model: str = "none"
    backend: str = "none"
    cached: bool = False
    usage: dict[str, int] = field(default_factory=dict)
    bytes_received: int = 0
    bytes_upstream: int = 0
    started: float = field(default_factory=time.perf_counter)  # when the request began
    recorded: bool = False  # metrics and telemetry written
    truncated: bool = False  # the model stopped at VISION_MAX_TOKENS: answered, but not cached
    thumbnail: Thumbnail | None = None  # the note's thumbnail of the page, being made (NOTES_KEEP_IMAGES)


class Analyzer:
    def __init__(
        self,
        settings: VisionSettings,
        metrics: VisionMetrics,
        cache: AnswerCache,
        upstream: Upstream | None = None,
        ocr: OcrEngine | None = None,
        notes: Notekeeper | None = None,
    ) -> None:
        self.settings = settings
        self.notes = notes  # the notes library (NOTES_ENABLED): the analyzer starts a page's thumbnail
        self.metrics = metrics
        self.cache = cache
        self.backend = settings.effective_backend
        self.upstream = upstream or Upstream(settings, metrics)
        self.ocr = ocr or OcrEngine()
        self.allow = tuple(ipaddress.ip_network(n, strict=False) for n in settings.fetch_allow_networks)
        # every decode reserves what it may hold at its peak (pixels.decode_cost) before it starts
        self.decoding = DecodeBudget(
            settings.decode_memory_mb << 20,
            settings.decode_concurrency,
            settings.decode_large_mb << 20,
            shared_lock_path(),
        )

    # --- image --------------------------------------------------------------------

    def image_bytes(self, req: AnalyzeRequest) -> bytes:
        assert req.image is not None
        if image_kind(req.image) == "url":
            return fetch_image(
                req.image,
                max_bytes=self.settings.max_body_bytes,
                timeout_s=self.settings.fetch_timeout_s,
                max_redirects=self.settings.fetch_max_redirects,
                allow=self.allow,
            )
        return decode_base64(req.image)

    def passthrough(self, req: AnalyzeRequest) -> bool:
        return (
            self.backend == "openai"
            and self.settings.url_mode == "passthrough"
            and req.image is not None
            and image_kind(req.image) == "url"
        )

    # --- the request -----------------------------------------------------------------

    def run(
        self, req: AnalyzeRequest, data: bytes | None, outcome: Outcome
    ) -> Generator[str | dict[str, Any], None, None]:
        started = time.perf_counter()
        outcome.task = req.task
        outcome.backend = self.backend
        models = [t.model for t in self.upstream.targets] if self.backend == "openai" else [OCR_MODEL]
        if data is None and not self.passthrough(req):
            data = self.image_bytes(req)
        key_source = data if data is not None else (req.image or "").encode()
        key = cache_key(
            key_source,
            task=req.task,
            prompt=req.prompt or "",
            language=req.language,
            format=req.format,
            backend=self.backend,
            models=models,
            pixels=self.settings.upstream_pixels,
        )
        if req.cache:
            hit = self.cache.get(key)
            self.metrics.cache.labels(result="hit" if hit else "miss").inc()
            if hit is not None:
                outcome.cached, outcome.model = True, str(hit.get("model", "none"))
                outcome.bytes_received = len(data or b"")
                result = {**hit, "id": _new_id(), "cached": True, "created": int(time.time())}
                result["timings"] = {"preprocess_ms": 0.0, "upstream_ms": 0.0, "total_ms": _ms(started)}
                yield result
                return
        if self.backend == "ocr":
            result = yield from self._ocr(req, data or b"", outcome, started)
        else:
            result = yield from self._model(req, data, outcome, started)
        if req.cache and not outcome.truncated:
            self.cache.set(key, {k: v for k, v in result.items() if k not in ("id", "timings", "cached", "created")})
        yield result

    def _prepare(self, data: bytes) -> tuple[Prepared, float]:
        t0 = time.perf_counter()
        prepared = prepare(
            data,
            max_pixels=self.settings.upstream_pixels,
            max_input_pixels=self.settings.max_input_pixels,
            quality=self.settings.jpeg_quality,
            hold=self.decoding.hold,
        )
        seconds = time.perf_counter() - t0
        self.metrics.preprocess_latency.observe(seconds)
        return prepared, seconds * 1000

    def _model(
        self, req: AnalyzeRequest, data: bytes | None, outcome: Outcome, started: float
    ) -> Generator[str, None, dict[str, Any]]:
        image_info: dict[str, Any]
        if data is None:  # passthrough of an https URL
            assert req.image is not None
            image_url, preprocess_ms = req.image, 0.0
            image_info = {"width": None, "height": None, "format": None, "bytes_received": 0, "bytes_upstream": 0}
        else:
            prepared, preprocess_ms = self._prepare(data)
            image_url = prepared.data_url()
            image_info = _image_info(prepared)
            if self.notes is not None and self.notes.keeps_page(req):  # made while the model reads the page
                outcome.thumbnail = self.notes.thumbnail_later(prepared.data)
        outcome.bytes_received = image_info["bytes_received"]
        outcome.bytes_upstream = image_info["bytes_upstream"]
        self.metrics.image_bytes.labels(direction="received").inc(outcome.bytes_received)
        messages = build_messages(req.task, req.language, req.format, image_url, req.prompt)
        completion: Completion | None = None
        usage_total: dict[str, int] = {}
        upstream_ms = 0.0
        structured: dict[str, Any] | None = None
        markdown = ""
        for turn in range(self.settings.json_repair_retries + 1 if req.format == "json" else 1):
            self.metrics.image_bytes.labels(direction="upstream").inc(outcome.bytes_upstream)
            for item in self.upstream.stream(
                messages, client_streams=req.stream and turn == 0, want_json=req.format == "json"
            ):
                if isinstance(item, Completion):
                    completion = item
                else:
                    yield item
            assert completion is not None
            outcome.model = completion.model
            upstream_ms += completion.upstream_ms
            for k, v in completion.usage.items():
                usage_total[k] = usage_total.get(k, 0) + v
                self.metrics.tokens.labels(model=completion.model, kind=k.removesuffix("_tokens")).inc(v)
            if req.format != "json":
                markdown = completion.text
                break
            try:
                structured, own_markdown = answers.parse_structured(completion.text)
                markdown = own_markdown or answers.render_markdown(structured)
                break
            except answers.StructuredError as err:
                problem = str(err)
                messages = messages + repair_message(completion.text, problem)
        else:
            raise AnalysisError(
                "invalid_model_output",
                f"the model's answer did not fit the structured schema after retries: {problem}",
                502,
            )
        outcome.usage = usage_total
        assert completion is not None
        markdown = answers.normalize_math(markdown)
        result = self._answer(
            req,
            completion.model,
            "openai",
            markdown,
            structured,
            usage_total,
            image_info,
            started,
            preprocess_ms,
            upstream_ms,
        )
        if completion.finish_reason == "length":
            outcome.truncated = True
            result["notes"] = [f"the answer was cut at VISION_MAX_TOKENS ({self.settings.max_tokens} tokens)"]
        return result

    def _ocr(
        self, req: AnalyzeRequest, data: bytes, outcome: Outcome, started: float
    ) -> Generator[str, None, dict[str, Any]]:
        t0 = time.perf_counter()
        picture = for_ocr(data, self.settings.max_input_pixels, hold=self.decoding.hold)
        preprocess_ms = _ms(t0)
        self.metrics.preprocess_latency.observe(preprocess_ms / 1000)
        outcome.bytes_received = len(data)
        outcome.model = OCR_MODEL
        self.metrics.image_bytes.labels(direction="received").inc(len(data))
        if self.notes is not None and self.notes.keeps_page(req):  # made while the OCR engine reads the page
            outcome.thumbnail = self.notes.thumbnail_later(picture)
        t1 = time.perf_counter()
        try:
            lines = self.ocr.read(picture)
        except Exception as err:
            failed = f"the offline OCR engine failed: {type(err).__name__}"
            raise AnalysisError("ocr_unavailable", failed, 503) from None
        ocr_ms = _ms(t1)
        markdown = "\n\n".join(lines)
        if req.stream and markdown:
            yield markdown
        structured: dict[str, Any] | None = None
        if req.format == "json":
            structured = {
                "problems": [
                    {"statement": line, "latex": [], "steps": [], "answer": None, "verdict": "unchecked"}
                    for line in lines
                ]
            }
        info = {
            "width": picture.size[0],
            "height": picture.size[1],
            "format": None,
            "bytes_received": len(data),
            "bytes_upstream": 0,
        }
        result = self._answer(req, OCR_MODEL, "ocr", markdown, structured, {}, info, started, preprocess_ms, ocr_ms)
        if req.task not in ("transcribe", "describe") or req.prompt:
            result["notes"] = [
                f"the offline OCR backend only transcribes text; task {req.task!r} and prompts "
                "need a vision model (set DASHSCOPE_API_KEY)"
            ]
        return result

    def _answer(
        self,
        req: AnalyzeRequest,
        model: str,
        backend: str,
        markdown: str,
        structured: dict[str, Any] | None,
        usage: dict[str, int],
        image: dict[str, Any],
        started: float,
        preprocess_ms: float,
        upstream_ms: float,
    ) -> dict[str, Any]:
        return {
            "id": _new_id(),
            "object": "vision.analysis",
            "created": int(time.time()),
            "model": model,
            "backend": backend,
            "task": req.task,
            "language": req.language,
            "format": req.format,
            "markdown": markdown,
            "latex": answers.extract_latex(markdown),
            "structured": structured,
            "usage": {
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
            "timings": {
                "preprocess_ms": round(preprocess_ms, 1),
                "upstream_ms": round(upstream_ms, 1),
                "total_ms": _ms(started),
            },
            "cached": False,
            "image": image,
        }


def _image_info(p: Prepared) -> dict[str, Any]:
    return {
        "width": p.width,
        "height": p.height,
        "format": p.source_format,
        "source_width": p.source_width,
        "source_height": p.source_height,
        "bytes_received": p.bytes_received,
        "bytes_upstream": p.bytes_sent,
    }


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


def _new_id() -> str:
    return "vis_" + uuid.uuid4().hex[:24]
