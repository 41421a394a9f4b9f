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

from ..common.httpapi import ApiError, install_common
from .httpbody import MAX_LISTED, Body, BodyError, json_body, line_body, listed
from .openapi import openapi_document
from .service import Busy, IngestService
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


def _refused(body: Body, refused: list[tuple[int, str]]) -> ApiError:
    """422 naming each item whose point InfluxDB refused (a field-type conflict…); the rest were written."""
    details = [
        {"index": body.origin[line], "reason": "influx_rejected", "detail": reason}
        for line, reason in refused[:MAX_LISTED]
    ]
    written = len(body.lines) - len(refused)
    return ApiError(
        422,
        "influx_rejected",
        f"InfluxDB refused {len(refused)} of {len(body.lines)} points; the other {written} were written",
        details=listed(details, len(refused)),
    )


def create_app(settings: IngestSettings, service: IngestService | None = None) -> Flask:
    """The HTTP API over ``service`` (built from ``settings`` and not started, when not given)."""
    svc = service or IngestService(settings)
    app = Flask("mathnotes.ingest")
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["ingest"] = svc
    install_common(app, "ingest")
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
            except BodyError as err:
                if err.code == "invalid_line_protocol":
                    svc.metrics.rejected.labels("unparseable").inc()
                raise ApiError(err.status, err.code, err.message) from None
            del raw
        if body.reasons:
            for reason, count in body.reasons.items():
                svc.metrics.rejected.labels(reason).inc(count)
            raise ApiError(
                400,
                "rejected",
                f"{body.rejected_count} of {body.total} items were rejected; nothing was written",
                details=listed(body.rejected, body.rejected_count),
            )
        try:
            outcome, refused = svc.ingest(body.lines)
        except Busy as err:
            raise ApiError(503, "unavailable", str(err), headers={"Retry-After": str(err.retry_after)}) from None
        if outcome == "rejected":  # the writer failed on it unexpectedly; it went to the DLQ as internal_error
            raise ApiError(500, "internal_error", "the points could not be written (logged)")
        if refused:
            raise _refused(body, refused)
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
            "mqtt": {"connected": mqtt_ok, "broker": settings.mqtt.redacted()},
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
