"""The ingest HTTP API's Flask app factory: the shared HTTP plumbing, the error mapping and two blueprints.

``api`` (``POST /api/ingest``) and ``ops`` (``GET /health``, ``/metrics``, ``/openapi.json``) find
the service in ``app.extensions["ingest"]`` (:meth:`~.service.IngestService.of`). Every
:class:`~.errors.IngestError` becomes the JSON error shape here, in one handler.
"""

from __future__ import annotations

import logging

from flask import Flask, Response

from ..common.httpapi import error_response, install_common
from .api import bp as api_blueprint
from .errors import IngestError
from .ops import bp as ops_blueprint
from .service import EXTENSION, IngestService
from .settings import IngestSettings

__all__ = ["create_app"]

log = logging.getLogger("mathnotes.ingest")


def create_app(settings: IngestSettings, service: IngestService | None = None) -> Flask:
    """The HTTP API over ``service`` (built from ``settings`` and not started, when not given)."""
    app = Flask("mathnotes.ingest")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions[EXTENSION] = service or IngestService(settings)
    install_common(app, "ingest")
    app.register_error_handler(IngestError, _error)
    app.register_blueprint(api_blueprint)
    app.register_blueprint(ops_blueprint)
    if not settings.api_keys:
        log.warning("INGEST_API_KEYS is empty: POST /api/ingest is open to anyone who can reach it")
    return app


def _error(err: IngestError) -> Response:
    """The one place the ingest error tree (:mod:`.errors`) becomes the API's JSON error shape."""
    return error_response(err.status, err.code, err.message, err.details, err.headers)
