"""Request guards for ``/api/`` (``/api/vision/…`` and ``/api/notes…``): body limit, CORS, rate limits, bearer keys.

``install_guards(app, settings, limiter, metrics)`` registers the hooks. Order on
the way in: CORS preflight, 413 on a declared body over the limit (before anything
reads it), rate limit (per valid key, else per client IP), then auth.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, Response, g, request

from ..common.logs import get_logger
from .errors import RequestError
from .metrics import VisionMetrics
from .ratelimit import Limiter, headers_for
from .settings import VisionSettings

__all__ = ["client_key", "install_guards"]

log = get_logger("mathnotes.vision")

PUBLIC = {"/api/vision/schema"}  # the published JSON schema needs no key
ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"  # PATCH and DELETE: /api/notes/{id}
ALLOWED_HEADERS = "Authorization, Content-Type, X-API-Key, X-Request-ID"
EXPOSED_HEADERS = "X-Request-ID, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy"


def client_key(settings: VisionSettings) -> str | None:
    """The caller's key when it is one of VISION_API_KEYS, else None."""
    auth = request.headers.get("Authorization", "")
    offered = auth[7:].strip() if auth[:7].lower() == "bearer " else request.headers.get("X-API-Key", "").strip()
    if not offered:
        return None
    for key in settings.api_keys:
        if hmac.compare_digest(offered.encode(), key.encode()):
            return key
    return None


def _origin_allowed(settings: VisionSettings, origin: str) -> bool:
    return bool(origin) and ("*" in settings.cors_origins or origin in settings.cors_origins)


def install_guards(app: Flask, settings: VisionSettings, limiter: Limiter | None, metrics: VisionMetrics) -> None:
    if not settings.api_keys:
        log.warning("VISION_API_KEYS is empty: the vision API is open to anyone who can reach it")

    @app.before_request
    def _guard() -> Response | None:
        origin = request.headers.get("Origin", "")
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            resp = Response(status=204)
            if _origin_allowed(settings, origin):
                resp.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
                resp.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
                resp.headers["Access-Control-Max-Age"] = "600"
            return resp
        if not request.path.startswith("/api/") or request.path in PUBLIC:
            return None
        if request.content_length is not None and request.content_length > settings.max_body_bytes:
            raise RequestError(
                "payload_too_large",
                f"request body is {request.content_length} bytes; the limit is {settings.max_body_bytes} bytes",
                413,
            )
        key = client_key(settings)
        if limiter is not None:
            who = "key:" + hashlib.sha256(key.encode()).hexdigest()[:16] if key else f"ip:{request.remote_addr}"
            decision = limiter.hit(who)
            g.rate_headers = headers_for(decision, settings.rate_limit_window_ms)
            if not decision.allowed:
                metrics.rate_limited.inc()
                raise RequestError(
                    "rate_limited",
                    f"too many requests: {decision.limit} per {settings.rate_limit_window_ms // 1000} s; "
                    f"retry after {g.rate_headers['Retry-After']} s",
                    429,
                    headers=g.rate_headers,
                )
        if settings.api_keys and key is None:
            raise RequestError(
                "unauthorized",
                "a valid API key is required: Authorization: Bearer <key>",
                401,
                headers={"WWW-Authenticate": 'Bearer realm="mathnotes-vision"'},
            )
        return None

    @app.after_request
    def _decorate(resp: Response) -> Response:
        origin = request.headers.get("Origin", "")
        if _origin_allowed(settings, origin):
            resp.headers["Access-Control-Allow-Origin"] = "*" if "*" in settings.cors_origins else origin
            resp.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            if "*" not in settings.cors_origins:
                resp.headers.add("Vary", "Origin")
        for name, value in (g.get("rate_headers") or {}).items():
            resp.headers.setdefault(name, value)
        return resp
