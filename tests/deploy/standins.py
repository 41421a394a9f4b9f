"""Stand-ins for the routing tests: upstreams for n8n, Node-RED, Grafana and Open WebUI, a held model answer, a photo.

A :class:`StandIn` is a real HTTP/1.1 server on a free loopback port. It answers every request with
JSON naming itself and the path it received, and upgrades WebSocket handshakes and echoes text frames.
:class:`HeldStream` is a reply for the fake model (``tests.support.fake_openai``) that streams its
first piece at once and the rest only after :meth:`HeldStream.release`, so a test can see whether the
vision API's first event crossed nginx while the model was still holding the rest of its answer.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw

from tests.support.fake_openai import Reply

__all__ = ["WS_GUID", "HeldStream", "StandIn", "note_png", "read_frame", "write_frame"]

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def note_png() -> bytes:
    """A small PNG of a line of maths, for the vision API behind nginx."""
    out = io.BytesIO()
    image = Image.new("RGB", (320, 120), "white")
    ImageDraw.Draw(image).text((10, 50), "x^2 + 2x + 1 = 0", fill="black")
    image.save(out, "PNG")
    return out.getvalue()


class HeldStream(Reply):
    """A streamed model answer whose first piece goes out at once and the others after :meth:`release`.

    The fake model reads ``chunk_delay`` once before each piece it streams; from the second piece on
    that read waits for :meth:`release` (at most ``hold_s``, so a broken test cannot hang forever).
    """

    def __init__(self, content: str, hold_s: float = 120.0) -> None:
        self._released = threading.Event()
        self._hold_s = hold_s
        self._pieces = 0
        super().__init__(content=content)

    @property
    def chunk_delay(self) -> float:
        self._pieces += 1
        if self._pieces > 1:
            self._released.wait(self._hold_s)
        return 0.0

    @chunk_delay.setter
    def chunk_delay(self, value: float) -> None:  # set by Reply's __init__; the pace is ours
        return

    def release(self) -> None:
        self._released.set()


def write_frame(sock: socket.socket, payload: bytes, opcode: int = 1, mask: bool = False) -> None:
    """One unfragmented WebSocket frame (clients mask, servers do not)."""
    head = bytes([0x80 | opcode])
    size = len(payload)
    mask_bit = 0x80 if mask else 0
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", size)
    if mask:
        key = b"\x11\x22\x33\x44"
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    sock.sendall(head + payload)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed inside a WebSocket frame")
        data += chunk
    return data


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """(opcode, payload) of one WebSocket frame, unmasking when needed."""
    first, second = _recv_exact(sock, 2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", _recv_exact(sock, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _recv_exact(sock, 8))[0]
    key = _recv_exact(sock, 4) if second & 0x80 else b""
    payload = _recv_exact(sock, size)
    if key:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return first & 0x0F, payload


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _record(self, body_len: int = 0) -> dict[str, Any]:
        entry = {
            "upstream": self.server.name,
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_bytes": body_len,
        }
        with self.server.lock:
            self.server.seen.append(entry)
        return entry

    def _json(self, status: int, doc: dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
        else:
            self._json(200, self._record())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        remaining = length
        while remaining:
            remaining -= len(self.rfile.read(min(remaining, 1 << 16)))
        self._json(200, self._record(length))

    do_PUT = do_POST

    def _websocket(self) -> None:
        self._record()
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        sock = self.connection
        while True:
            try:
                opcode, payload = read_frame(sock)
            except (ConnectionError, OSError):
                break
            if opcode == 8:
                write_frame(sock, payload, opcode=8)
                break
            write_frame(sock, f"{self.server.name}:".encode() + payload, opcode=opcode)
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, name: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()


class StandIn:
    """One stand-in upstream; ``with StandIn("n8n") as s: s.port``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._server = _Server(name)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"standin-{name}", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def seen(self) -> list[dict[str, Any]]:
        with self._server.lock:
            return list(self._server.seen)

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
