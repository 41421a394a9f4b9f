"""The phone page at ``/``: photograph notes, watch the answer stream in with rendered math.

A Flask blueprint serving ``index.html`` at ``/`` and its files at ``/assets/...`` from the
package's ``static`` folder (``/static`` is Flask's own app route, so it is not used): plain
ES modules and CSS, plus KaTeX and markdown-it vendored from npm by
``scripts/build-web.sh`` (no CDN at run time). The page calls the API with relative
URLs, so it also works under a path prefix behind a proxy.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import Blueprint, Response, request, send_from_directory
from flask.typing import ResponseReturnValue

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC", "bp"]

STATIC = Path(__file__).parent / "static"

# Scripts and connections only from this origin; KaTeX writes inline style attributes;
# previews are blob: URLs and history thumbnails data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' blob: data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)

mimetypes.add_type("font/woff2", ".woff2")  # not in every Python's table
mimetypes.add_type("text/javascript", ".js")  # module scripts need a JavaScript type whatever /etc/mime.types says

bp = Blueprint("web", __name__, static_folder=str(STATIC), static_url_path="/assets")


@bp.get("/")
def index() -> ResponseReturnValue:
    resp: Response = send_from_directory(STATIC, "index.html", max_age=0)
    resp.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.after_app_request
def _static_headers(resp: Response) -> Response:
    if request.blueprint == "web":
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    return resp
