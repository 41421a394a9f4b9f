"""The vision API's Flask app factory: settings, the shared HTTP plumbing, guards and the blueprints.

``api`` (``POST /api/vision/analyze``, ``GET /api/vision/schema``), ``notes`` (``/api/notes…``, when
``NOTES_ENABLED``), ``ops`` (``GET /health``, ``/ready``, ``/metrics``, ``/openapi.json``) and ``web``
(the phone page at ``/``). The parts they use are built once (:func:`~.state.build_state`) and kept in
``app.extensions["vision"]``. Every :class:`~.errors.VisionError` and every
:class:`~mathnotes.notes.errors.NotesError` (both :class:`~mathnotes.common.errors.ClientError`) becomes the
JSON error shape here, in one handler.
"""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

from ..common.errors import ClientError
from ..common.httpapi import error_response, install_common
from .api import bp as api_blueprint
from .guards import install_guards
from .metrics import VisionMetrics
from .notes_api import bp as notes_blueprint
from .ocr import OcrEngine
from .ops import bp as ops_blueprint
from .settings import VisionSettings
from .state import EXTENSION, VisionState, build_state
from .upstream import Upstream
from .web import bp as page_blueprint

__all__ = ["VisionState", "create_app"]


def create_app(
    settings: VisionSettings,
    *,
    upstream: Upstream | None = None,
    ocr: OcrEngine | None = None,
    metrics: VisionMetrics | None = None,
    migrate: bool = True,
) -> Flask:
    """The app; ``upstream``, ``ocr`` and ``metrics`` replace the parts built from ``settings``.

    An ``upstream`` given here reports to ``metrics``: build both and pass both. ``migrate``: bring the
    notes database's schema up to date first (waiting for it at most ``NOTES_DB_WAIT_S``); the
    gunicorn master does it once before forking and its workers pass False.
    """
    app = Flask("mathnotes.vision")
    app.config["SETTINGS"] = settings
    app.json.sort_keys = False  # type: ignore[attr-defined]  # answers keep their documented order
    # one byte over the limit, so that a body of unknown length (chunked), which werkzeug cuts at
    # MAX_CONTENT_LENGTH without a word, shows it was longer (``api.whole_body``)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    app.config["MAX_FORM_MEMORY_SIZE"] = settings.max_body_bytes
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    install_common(app, "vision")
    app.register_error_handler(ClientError, _error)  # VisionError and NotesError
    state = build_state(settings, metrics=metrics, upstream=upstream, ocr=ocr, migrate=migrate)
    app.extensions[EXTENSION] = state
    install_guards(app, settings, state.limiter, state.metrics)
    app.register_blueprint(api_blueprint)
    if state.notes is not None:
        app.register_blueprint(notes_blueprint)
    app.register_blueprint(ops_blueprint)
    app.register_blueprint(page_blueprint)  # the phone page at / and its /assets files
    return app


def _error(err: ClientError) -> Response:
    """The one place the error trees (vision's :mod:`.errors`, the library's) become the API's JSON error shape."""
    return error_response(err.status, err.code, err.message, err.details, err.headers)
