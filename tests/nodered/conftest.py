"""Node-RED fixtures: the whole suite (every flow + real ingest + real vision) once per module."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image, ImageDraw

from mathnotes.testing.fake_openai import FakeOpenAI
from mathnotes.testing.servers import InfluxDB1, Mosquitto

from .harness import Suite, start_suite


class Webhook:
    """A real local HTTP server standing where n8n's webhook would be; records each POSTed JSON body."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                outer.bodies.append(json.loads(self.rfile.read(length) or b"null"))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhook/alerts"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.stop()


@pytest.fixture(scope="module")
def suite(
    tmp_path_factory: pytest.TempPathFactory,
    mosquitto: Mosquitto,
    influxdb: InfluxDB1,
    fake_model: FakeOpenAI,
    webhook: Webhook,
) -> Iterator[Suite]:
    db = "nr" + uuid.uuid4().hex[:8]
    running = start_suite(
        tmp_path_factory.mktemp("suite"), mosquitto, influxdb, fake_model, db, {"N8N_ALERT_WEBHOOK_URL": webhook.url}
    )
    yield running
    running.stop()


def png_bytes(text: str = "x^2 + 1") -> bytes:
    """A small real PNG of a line of 'notes'."""
    image = Image.new("RGB", (320, 80), "white")
    ImageDraw.Draw(image).text((10, 30), text, fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
