"""The ingest HTTP API: ``POST /api/ingest``, ``GET /health``, ``GET /metrics``, ``GET /openapi.json``."""

from __future__ import annotations

import hmac
import json
import time

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..web import ApiError, install_common
from .lineproto import LineProtocolError, parse_lines
from .openapi import openapi_document
from .parse import parse_json_body
from .service import Busy, IngestService
from .settings import IngestSettings

__all__ = ["create_app"]


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


def create_app(settings: IngestSettings, service: IngestService | None = None) -> Flask:
    """The HTTP API over ``service`` (built from ``settings`` and not started, when not given)."""
    svc = service or IngestService(settings)
    app = Flask("mathnotes.ingest")
    app.config["SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["ingest"] = svc
    install_common(app, "ingest")

    @app.post("/api/ingest")
    def ingest() -> ResponseReturnValue:
        _check_auth(settings)
        if (request.content_length or 0) > settings.max_body_bytes:
            raise ApiError(413, "payload_too_large", f"the body is larger than {settings.max_body_bytes} bytes")
        now = time.time_ns()
        raw = request.get_data(cache=False)
        mimetype = request.mimetype or "text/plain"
        if mimetype == "application/json":
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError) as err:
                raise ApiError(400, "invalid_json", f"the body is not JSON: {err or 'nested too deeply'}") from None
            points, errors = parse_json_body(data, now, svc.opts)
            if errors:
                svc.metrics.rejected.labels(errors[0]["reason"]).inc(len(errors))
                raise ApiError(
                    400,
                    "rejected",
                    f"{len(errors)} of {len(data) if isinstance(data, list) else 1} "
                    "items were rejected; nothing was written",
                    details=errors,
                )
        elif mimetype in ("text/plain", "application/octet-stream", "application/x-www-form-urlencoded"):
            try:
                points = parse_lines(raw.decode("utf-8"), now)
            except UnicodeDecodeError:
                raise ApiError(400, "not_utf8", "line protocol must be UTF-8 text") from None
            except LineProtocolError as err:
                svc.metrics.rejected.labels("unparseable").inc()
                raise ApiError(400, "invalid_line_protocol", str(err)) from None
        else:
            raise ApiError(415, "unsupported_media_type", "send application/json or text/plain line protocol")
        try:
            outcome = svc.ingest(points)
        except Busy as err:
            raise ApiError(503, "unavailable", str(err), headers={"Retry-After": str(err.retry_after)}) from None
        return jsonify({"accepted": len(points), "outcome": outcome}), 202

    @app.get("/health")
    def health() -> ResponseReturnValue:
        mqtt_ok = svc.consumer.connected.is_set()
        influx_ok = svc.influx_reachable()
        body = {
            "status": "ok" if mqtt_ok and influx_ok else "degraded",
            "service": "ingest",
            "mqtt": {"connected": mqtt_ok, "broker": settings.mqtt.redacted()},
            "influx": {"reachable": influx_ok, "url": settings.influx_url, "api": settings.influx_api},
            "spool": {"batches": svc.spool.depth, "bytes": svc.spool.bytes},
            "pending": svc.pipeline.pending(),
        }
        return jsonify(body), 200 if mqtt_ok and influx_ok else 503

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(svc.metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json")
    def openapi() -> ResponseReturnValue:
        return jsonify(openapi_document(settings))

    return app
