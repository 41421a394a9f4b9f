"""The operations blueprint: ``GET /health``, ``/ready``, ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue

from .openapi import openapi_document
from .state import VisionState

__all__ = ["bp"]

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health() -> ResponseReturnValue:
    """Liveness: 503 ``stalled`` when the notes writer thread has died (nothing would be saved any more)."""
    state = VisionState.of(current_app)
    body: dict[str, Any] = {"status": "ok", "service": "vision", "backend": state.analyzer.backend}
    if state.notes is not None:
        notes = state.notes.health()
        body["notes"] = notes
        if not notes["writer"]:
            body["status"] = "stalled"
    return jsonify(body), 200 if body["status"] == "ok" else 503


@bp.get("/ready")
def ready() -> ResponseReturnValue:
    analyzer = VisionState.of(current_app).analyzer
    checks: dict[str, Any] = {}
    if analyzer.backend == "ocr":
        checks["ocr"] = "ok" if analyzer.ocr.ready() else f"failed: {analyzer.ocr.error}"
    else:
        checks["upstream"] = analyzer.upstream.probe()
    checks["cache"] = "ok" if analyzer.cache.ping() else "unreachable"
    if analyzer.notes is not None:  # told, not required: analyze answers (and queues its notes) without it
        checks["notes"] = "ok" if analyzer.notes.health()["database"] else "unreachable (notes are queued)"
    upstream_ok = analyzer.backend == "ocr" or "ok" in checks["upstream"].values()
    ok = upstream_ok and all(v == "ok" for k, v in checks.items() if k in ("ocr", "cache"))
    body = {"status": "ready" if ok else "not_ready", "backend": analyzer.backend, "checks": checks}
    return jsonify(body), 200 if ok else 503


@bp.get("/metrics")
def metrics() -> ResponseReturnValue:
    state = VisionState.of(current_app)
    if state.notes is not None:
        state.notes.health()  # sets vision_notes_queue_depth
    return Response(state.metrics.render(), mimetype="text/plain; version=0.0.4")


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document(VisionState.of(current_app).settings))
