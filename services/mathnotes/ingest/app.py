"""The ingest HTTP API: ``POST /api/ingest``, ``GET /health``, ``GET /metrics``, ``GET /openapi.json``."""

from __future__ import annotations

import hmac
import logging
import threading
import time

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import RequestEntityTooLarge

from ..common.httpapi import ApiError, error_response, install_common
from .errors import Busy, IngestError, Rejected
from .httpbody import json_body, line_body
from .openapi import openapi_document
from .service import IngestService
from .settings import IngestSettings

__all__ = ["create_app"]

log = logging.getLogger("mathnotes.ingest")
_LINE_TYPES = ("text/plain", "application/octet-stream", "application/x-www-form-urlencoded")


def _too_large(settings: IngestSettings) -> ApiError:
    return ApiError(413, "payload_too_large", f"the body is larger than {settings.max_body_bytes} bytes")


def _check_auth(settings: IngestSettings) -> None:
    if not settings.api_keys:
        return
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not any(hmac.compare_digest(token.encode(), key.encode()) for key in settings.api_keys):
        raise ApiError(
            401,
            "unauthorized",
            "a valid 'Authorization: Bearer <key>' header is required",
            headers={"WWW-Authenticate": 'Bearer realm="ingest"'},
        )


def _error(err: IngestError) -> Response:
    """Any :mod:`~.errors` error as the JSON error shape: the one place the two meet."""
    headers = {"Retry-After": str(err.retry_after)} if isinstance(err, Busy) else None
    return error_response(err.status, err.code, err.message, err.details, headers)


def create_app(settings: IngestSettings, service: IngestService | None = None) -> Flask:
    """The HTTP API over ``service`` (built from ``settings`` and not started, when not given)."""
    svc = service or IngestService(settings)
    app = Flask("mathnotes.ingest")
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["ingest"] = svc
    install_common(app, "ingest")
    app.register_error_handler(IngestError, _error)
    if not settings.api_keys:
        log.warning("INGEST_API_KEYS is empty: POST /api/ingest is open to anyone who can reach it")
    parsing = threading.Lock()

    @app.post("/api/ingest")
    def ingest() -> ResponseReturnValue:
        _check_auth(settings)
        if (request.content_length or 0) > settings.max_body_bytes:
            raise _too_large(settings)
        mimetype = request.mimetype or "text/plain"
        if mimetype != "application/json" and mimetype not in _LINE_TYPES:
            raise ApiError(415, "unsupported_media_type", "send application/json or text/plain line protocol")
        now = time.time_ns()
        with parsing:  # one body parsed at a time: parsing holds the GIL anyway, and memory stays one body's
            try:
                raw = request.get_data(cache=False)
            except RequestEntityTooLarge:  # a chunked body that turned out too large
                raise _too_large(settings) from None
            try:
                if mimetype == "application/json":
                    body = json_body(raw, now, svc.opts, settings.max_items)
                else:
                    body = line_body(raw, now, settings.max_items)
            except Rejected as err:  # line protocol's first bad line
                svc.metrics.rejected.labels(err.code).inc()
                raise
            del raw
        if body.reasons:
            for reason, count in body.reasons.items():  # each item under its own reason
                svc.metrics.rejected.labels(reason).inc(count)
            raise body.refusal()
        outcome, refused = svc.ingest(body.lines)
        if outcome == "rejected":  # the writer failed on it unexpectedly; it went to the DLQ as internal_error
            raise IngestError("internal_error", "the points could not be written (logged)")
        if refused:
            raise body.refused(refused)
        return jsonify({"accepted": len(body.lines), "outcome": outcome}), 202

    @app.get("/health")
    def health() -> ResponseReturnValue:
        mqtt_ok = svc.consumer.connected.is_set()
        influx_ok = svc.influx_reachable()
        workers = svc.workers.report()
        status = "stalled" if svc.workers.failing(workers) else "ok" if mqtt_ok and influx_ok else "degraded"
        body = {
            "status": status,
            "service": "ingest",
            "mqtt": {"connected": mqtt_ok, "broker": settings.mqtt.redacted(), "reader": svc.consumer.reader},
            "influx": {"reachable": influx_ok, "url": settings.influx_url, "api": settings.influx_api},
            "spool": {"batches": svc.spool.depth, "bytes": svc.spool.bytes},
            "pending": svc.pipeline.pending(),
            "workers": workers,
        }
        return jsonify(body), 200 if status == "ok" else 503

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(svc.metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json")
    def openapi() -> ResponseReturnValue:
        return jsonify(openapi_document(settings))

    return app
