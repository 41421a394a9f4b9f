"""Small real things the Node-RED tests talk to: an HTTP receiver standing in for n8n's webhook, a note photo."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw

__all__ = ["WEBHOOK_TOKEN", "Webhook", "png_bytes"]

WEBHOOK_TOKEN = "n8n-webhook-token-for-nodered-tests"  # N8N_ALERT_WEBHOOK_TOKEN


class Webhook:
    """A local HTTP server where n8n's Webhook node would be: records each POSTed JSON body and its
    ``Authorization`` header, answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.bodies: list[Any] = []
        self.authorizations: list[str | None] = []
        self.status = status
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with outer._lock:
                    outer.bodies.append(body)
                    outer.authorizations.append(self.headers.get("authorization"))
                answer = (
                    b'{"message":"Workflow was started"}' if outer.status < 300 else b'{"message":"not registered"}'
                )
                self.send_response(outer.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhook/math-notes/alert"

    def received(self) -> list[Any]:
        with self._lock:
            return list(self.bodies)

    def received_authorizations(self) -> list[str | None]:
        with self._lock:
            return list(self.authorizations)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def png_bytes(text: str = "x^2 + 1") -> bytes:
    """A small real PNG of a line of 'notes'."""
    image = Image.new("RGB", (320, 80), "white")
    ImageDraw.Draw(image).text((10, 30), text, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
