"""The vision API's Flask app factory and routes.

``POST /api/vision/analyze`` (JSON, multipart ``file`` part, or a raw image body),
``GET /health``, ``GET /ready``, ``GET /metrics``, ``GET /openapi.json``; the phone
page (``web/``) at ``/``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, jsonify, request, stream_with_context
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from ..common.httpapi import error_response, install_common, request_id
from .analyzer import Analyzer, Outcome
from .answer import STRUCTURED_SCHEMA
from .cache import make_cache
from .errors import RequestError, VisionError
from .guards import install_guards
from .inputs import AnalyzeRequest, parse_fields
from .metrics import VisionMetrics
from .ocr import OcrEngine
from .openapi import openapi_document
from .ratelimit import make_limiter
from .settings import VisionSettings
from .telemetry import Telemetry
from .upstream import Upstream
from .web import bp as page_blueprint

__all__ = ["VisionState", "create_app"]

CLIENT_CLOSED = 499  # nginx's code for "the client went away before the answer" (metrics, telemetry)


@dataclass
class VisionState:
    settings: VisionSettings
    metrics: VisionMetrics
    analyzer: Analyzer
    telemetry: Telemetry | None

    def close(self) -> None:
        if self.telemetry is not None:
            self.telemetry.stop()


def create_app(settings: VisionSettings, *, upstream: Upstream | None = None, ocr: OcrEngine | None = None) -> Flask:
    app = Flask("mathnotes.vision")
    app.config["SETTINGS"] = settings
    app.json.sort_keys = False  # type: ignore[attr-defined]  # answers keep their documented order
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = settings.max_body_bytes
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    install_common(app, "vision")
    app.register_error_handler(VisionError, _vision_error)
    metrics = VisionMetrics()
    limiter = (
        make_limiter(
            settings.redis_url, settings.rate_limit_max_requests, settings.rate_limit_window_ms, settings.state_dir
        )
        if settings.rate_limit_max_requests > 0
        else None
    )
    install_guards(app, settings, limiter, metrics)
    cache = make_cache(settings.redis_url, settings.cache_entries, settings.cache_ttl_s, settings.state_dir)
    upstream = upstream or Upstream(settings, metrics)
    upstream.metrics = upstream.metrics or metrics
    analyzer = Analyzer(settings, metrics, cache, upstream=upstream, ocr=ocr)
    telemetry = (
        Telemetry(settings.mqtt, settings.site, metrics, settings.telemetry_queue, settings.mqtt_ca_file).start()
        if settings.telemetry
        else None
    )
    if analyzer.backend == "ocr":  # load the OCR models in the background, not on the first request
        # not a daemon: exiting while onnxruntime is mid-load could crash the worker instead of a clean exit
        threading.Thread(target=analyzer.ocr.ready, name="ocr-warmup", daemon=False).start()
    state = VisionState(settings, metrics, analyzer, telemetry)
    app.extensions["vision"] = state

    def finish(status: int, outcome: Outcome, started: float) -> None:
        if outcome.recorded:  # once per request, whichever path ends it
            return
        outcome.recorded = True
        seconds = time.perf_counter() - started
        metrics.requests.labels(status=str(status), task=outcome.task, model=outcome.model).inc()
        metrics.latency.labels(task=outcome.task, cached=str(outcome.cached).lower()).observe(seconds)
        metrics.in_flight.dec()
        if telemetry is not None:
            telemetry.record(
                {
                    "status": status,
                    "task": outcome.task,
                    "model": outcome.model,
                    "backend": outcome.backend,
                    "cached": outcome.cached,
                    "latency_ms": round(seconds * 1000, 1),
                    "prompt_tokens": outcome.usage.get("prompt_tokens", 0),
                    "completion_tokens": outcome.usage.get("completion_tokens", 0),
                    "bytes_received": outcome.bytes_received,
                    "bytes_upstream": outcome.bytes_upstream,
                }
            )

    @app.after_request
    def _account(resp: Response) -> Response:
        if request.endpoint == "analyze" and "analyze_started" in g and not g.get("deferred"):
            finish(resp.status_code, g.outcome, g.analyze_started)
        return resp

    @app.get("/health")
    def health() -> ResponseReturnValue:
        return jsonify({"status": "ok", "service": "vision", "backend": analyzer.backend})

    @app.get("/ready")
    def ready() -> ResponseReturnValue:
        checks: dict[str, Any] = {}
        if analyzer.backend == "ocr":
            checks["ocr"] = "ok" if analyzer.ocr.ready() else f"failed: {analyzer.ocr.error}"
        else:
            checks["upstream"] = analyzer.upstream.probe()
        checks["cache"] = "ok" if analyzer.cache.ping() else "unreachable"
        upstream_ok = analyzer.backend == "ocr" or "ok" in checks["upstream"].values()
        ok = upstream_ok and all(v == "ok" for k, v in checks.items() if k in ("ocr", "cache"))
        body = {"status": "ready" if ok else "not_ready", "backend": analyzer.backend, "checks": checks}
        return jsonify(body), 200 if ok else 503

    @app.get("/metrics")
    def metrics_text() -> ResponseReturnValue:
        return Response(metrics.render(), mimetype="text/plain; version=0.0.4")

    @app.get("/openapi.json")
    def openapi() -> ResponseReturnValue:
        return jsonify(openapi_document(settings))

    @app.get("/api/vision/schema")
    def schema() -> ResponseReturnValue:
        return jsonify(STRUCTURED_SCHEMA)

    @app.post("/api/vision/analyze")
    def analyze() -> ResponseReturnValue:
        g.analyze_started = time.perf_counter()
        g.outcome = Outcome(task="unknown")
        metrics.in_flight.inc()
        req, data = read_request()
        g.outcome.task = req.task
        run = analyzer.run(req, data, g.outcome)
        if not req.stream:
            result: dict[str, Any] = {}
            for item in run:
                if isinstance(item, dict):
                    result = item
            return jsonify(result)
        first = next(run)  # errors before the first byte still answer as JSON with their status
        g.deferred = True
        outcome, started = g.outcome, g.analyze_started
        resp = Response(
            stream_with_context(events(first, run, outcome, started)),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        resp.call_on_close(lambda: finish(CLIENT_CLOSED, outcome, started))  # a stream never started
        return resp

    def events(
        first: str | dict[str, Any], run: Generator[str | dict[str, Any], None, None], outcome: Outcome, started: float
    ) -> Iterator[str]:
        status = CLIENT_CLOSED  # until the answer or an error event is out
        item: str | dict[str, Any] | None = first
        sent_delta = False
        try:
            while item is not None:
                if isinstance(item, dict):
                    if not sent_delta and item.get("markdown"):
                        yield _sse("delta", {"text": item["markdown"]})
                    yield _sse("answer", item)
                    status = 200
                    break
                sent_delta = True
                yield _sse("delta", {"text": item})
                item = next(run, None)
        except VisionError as err:
            status = err.status  # recorded even if the client is gone before the event
            yield _sse("error", {"error": {"code": err.code, "message": err.message, "request_id": request_id()}})
        finally:
            run.close()
            finish(status, outcome, started)

    app.register_blueprint(page_blueprint)  # the phone page at / and its /assets files
    return app


def _vision_error(err: VisionError) -> Response:
    """The one place the vision error tree (:mod:`.errors`) becomes the API's JSON error shape."""
    return error_response(err.status, err.code, err.message, err.details, err.headers)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def read_request() -> tuple[AnalyzeRequest, bytes | None]:
    """The analyze request from a JSON body, a multipart form or a raw image body."""
    mime = request.mimetype or ""
    try:
        if mime == "multipart/form-data":
            upload = request.files.get("file")
            fields = {k: v for k, v in request.form.items()}
            data = upload.read() if upload is not None else None
            if upload is not None and not data:
                raise RequestError("empty_image", "the file part is empty")
            return parse_fields(fields, has_file=data is not None), data
        if mime.startswith("image/") or mime == "application/octet-stream":
            data = request.get_data()
            if not data:
                raise RequestError("empty_image", "the request body is empty")
            return parse_fields(dict(request.args.items()), has_file=True), data
        raw = request.get_data()
        if mime == "application/json" or mime.endswith("+json") or raw.lstrip()[:1] == b"{":
            try:
                body = json.loads(raw)
            except ValueError as err:
                raise RequestError("invalid_json", f"the body is not valid JSON: {err}") from None
            if not isinstance(body, dict):
                raise RequestError("invalid_json", "the body must be a JSON object")
            return parse_fields(body), None
    except RequestEntityTooLarge:
        raise
    except BadRequest as err:
        raise RequestError("invalid_body", err.description or "the request body cannot be read") from None
    raise RequestError(
        "unsupported_media_type",
        "send application/json, multipart/form-data with a 'file' part, or an image body (image/jpeg, ...)",
        415,
    )
