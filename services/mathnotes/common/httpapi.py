"""HTTP plumbing shared by the Flask services.

``install_common(app, service)`` gives an app what both services promise:

* an ``X-Request-ID`` on every answer (the caller's, if it sent a sane one);
* one structured log line per request (method, path, status, ms, request id);
* one JSON error shape for every error, 404/405/413/500 included::

      {"error": {"code": "not_found", "message": "...", "request_id": "..."}}

Each service maps its own error tree to this shape in one handler, with :func:`error_response`
(``vision/app.py``, ``ingest/app.py``); werkzeug's HTTP exceptions are mapped here (their name as the
code: ``not_found``, ``method_not_allowed``; 413 is ``payload_too_large``), and anything else is a 500
``internal_error``, logged: nothing leaks a traceback to the client.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .logs import get_logger

__all__ = ["error_response", "install_common", "request_id"]

log = get_logger("mathnotes.http")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    rid = getattr(g, "request_id", None)
    return rid if isinstance(rid, str) else "-"


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id()}
    if details is not None:
        body["details"] = details
    resp = jsonify({"error": body})
    resp.status_code = status
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


# one name per status across the suite: a body over a limit is ``payload_too_large`` here, in ingest and in nginx
_CODES = {413: "payload_too_large"}


def _code_for(exc: HTTPException) -> str:
    if exc.code in _CODES:
        return _CODES[exc.code]
    return re.sub(r"[^a-z0-9]+", "_", (exc.name or "error").lower()).strip("_")


def install_common(app: Flask, service: str) -> None:
    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def _finish(resp: Response) -> Response:
        resp.headers["X-Request-ID"] = request_id()
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            resp.status_code,
            extra={
                "service": service,
                "method": request.method,
                "path": request.path,
                "status": resp.status_code,
                "ms": round(elapsed, 1),
                "request_id": request_id(),
                "remote": request.remote_addr,
            },
        )
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = "request body too large"
        headers = {}
        if status == 405 and exc.get_response().headers.get("Allow"):
            headers["Allow"] = exc.get_response().headers["Allow"]
        return error_response(status, _code_for(exc), message, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"request_id": request_id()})
        return error_response(500, "internal_error", "internal server error")
