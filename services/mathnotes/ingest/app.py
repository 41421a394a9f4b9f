"""The ingest service's Flask app factory."""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from ..web import install_common
from .settings import IngestSettings

__all__ = ["create_app"]


def create_app(settings: IngestSettings) -> Flask:
    app = Flask("mathnotes.ingest")
    app.config["SETTINGS"] = settings
    install_common(app, "ingest")

    @app.get("/health")
    def health() -> ResponseReturnValue:
        return jsonify({"status": "ok", "service": "ingest"})

    return app
