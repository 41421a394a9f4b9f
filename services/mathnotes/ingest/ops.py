"""The operations blueprint: ``GET /health``, ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .openapi import openapi_document
from .service import IngestService

__all__ = ["bp"]

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health() -> ResponseReturnValue:
    body = health_report(IngestService.of(current_app))
    return jsonify(body), 200 if body["status"] == "ok" else 503


@bp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(IngestService.of(current_app).metrics.registry), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(openapi_document(IngestService.of(current_app).settings))


def health_report(service: IngestService) -> dict[str, Any]:
    """The status (``ok``, ``degraded``: the broker or InfluxDB is away, ``stalled``: a worker thread is) and why."""
    settings = service.settings
    mqtt_ok = service.consumer.connected.is_set()
    influx_ok = service.influx_reachable()
    workers = service.workers.report()
    status = "stalled" if service.workers.failing(workers) else "ok" if mqtt_ok and influx_ok else "degraded"
    return {
        "status": status,
        "service": "ingest",
        "mqtt": {"connected": mqtt_ok, "broker": settings.mqtt.redacted(), "reader": service.consumer.reader},
        "influx": {"reachable": influx_ok, "url": settings.influx_url, "api": settings.influx_api},
        "spool": {"batches": service.spool.depth, "bytes": service.spool.bytes},
        "pending": service.pipeline.pending(),
        "workers": workers,
    }
