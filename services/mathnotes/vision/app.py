"""The vision API's Flask app factory."""

from __future__ import annotations

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from ..web import install_common
from .settings import VisionSettings

__all__ = ["create_app"]


def create_app(settings: VisionSettings) -> Flask:
    app = Flask("mathnotes.vision")
    app.config["SETTINGS"] = settings
    install_common(app, "vision")

    @app.get("/health")
    def health() -> ResponseReturnValue:
        return jsonify({"status": "ok", "service": "vision"})

    return app
