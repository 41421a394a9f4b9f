"""The API blueprint: ``POST /api/ingest``, the same validation and writer as MQTT over HTTP."""

from __future__ import annotations

import hmac
import threading
import time

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import IngestError, Rejected, RequestError
from .httpbody import Body, json_body, line_body
from .service import IngestService
from .settings import IngestSettings

__all__ = ["bp"]

bp = Blueprint("api", __name__)
LINE_TYPES = ("text/plain", "application/octet-stream", "application/x-www-form-urlencoded")
# One body parsed at a time in this process: parsing holds the GIL anyway, and memory stays one body's.
_parsing = threading.Lock()


@bp.post("/api/ingest")
def ingest() -> ResponseReturnValue:
    service = IngestService.of(current_app)
    settings = service.settings
    _check_auth(settings)
    if (request.content_length or 0) > settings.max_body_bytes:
        raise _too_large(settings)
    mimetype = request.mimetype or "text/plain"
    if mimetype != "application/json" and mimetype not in LINE_TYPES:
        raise RequestError(415, "unsupported_media_type", "send application/json or text/plain line protocol")
    body = _read_body(service, mimetype)
    outcome, refused = service.ingest(body.lines)
    if outcome == "rejected":  # the writer failed on it unexpectedly; it went to the DLQ as internal_error
        raise IngestError("internal_error", "the points could not be written (logged)")
    if refused:
        raise body.refused(refused)
    return jsonify({"accepted": len(body.lines), "outcome": outcome}), 202


def _read_body(service: IngestService, mimetype: str) -> Body:
    """The request's lines; rejected items and lines are counted, each under its own reason, then raised."""
    now = time.time_ns()
    with _parsing:
        try:
            raw = request.get_data(cache=False)
        except RequestEntityTooLarge:  # a chunked body that turned out too large
            raise _too_large(service.settings) from None
        try:
            if mimetype == "application/json":
                body = json_body(raw, now, service.opts, service.settings.max_items)
            else:
                body = line_body(raw, now, service.settings.max_items)
        except Rejected as err:  # line protocol's first bad line
            service.metrics.rejected.labels(err.code).inc()
            raise
    for reason, count in body.reasons.items():
        service.metrics.rejected.labels(reason).inc(count)
    if body.reasons:
        raise body.refusal()
    return body


def _too_large(settings: IngestSettings) -> RequestError:
    return RequestError(413, "payload_too_large", f"the body is larger than {settings.max_body_bytes} bytes")


def _check_auth(settings: IngestSettings) -> None:
    if not settings.api_keys:
        return
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not any(hmac.compare_digest(token.encode(), key.encode()) for key in settings.api_keys):
        raise RequestError(
            401,
            "unauthorized",
            "a valid 'Authorization: Bearer <key>' header is required",
            headers={"WWW-Authenticate": 'Bearer realm="ingest"'},
        )
