"""Raw TLS clients for what ``requests`` cannot show: WebSocket upgrades, SSE as it arrives, early 413s, ALPN."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
from collections.abc import Mapping
from typing import Any

from .standins import read_frame, write_frame

__all__ = [
    "alpn",
    "insecure_context",
    "peer_certificate",
    "raw_request",
    "read_event",
    "sse_post",
    "websocket_echo",
    "websocket_handshake",
]


def insecure_context(alpn_protocols: list[str] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn_protocols:
        ctx.set_alpn_protocols(alpn_protocols)
    return ctx


def _tls(port: int, server_name: str, alpn_protocols: list[str] | None = None) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    return insecure_context(alpn_protocols).wrap_socket(sock, server_hostname=server_name)


def alpn(port: int, server_name: str) -> str | None:
    """The protocol nginx picks when a client offers h2 and http/1.1."""
    with _tls(port, server_name, ["h2", "http/1.1"]) as sock:
        return sock.selected_alpn_protocol()


def peer_certificate(port: int, server_name: str) -> bytes:
    """The DER certificate nginx presents for ``server_name``."""
    with _tls(port, server_name) as sock:
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return der


def _read_head(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """Status line, lower-cased headers, and whatever body bytes arrived with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    raw_head, _, rest = data.partition(b"\r\n\r\n")
    head = raw_head.decode("latin-1")
    status, *lines = head.split("\r\n")
    headers = {}
    for line in lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, rest


def _handshake(sock: ssl.SSLSocket, host: str, path: str, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",
        "",
    ]
    sock.sendall("\r\n".join(lines).encode())
    status, answer, _ = _read_head(sock)
    return status, answer


def websocket_handshake(port: int, host: str, path: str, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """(status line, lower-cased headers) of a WebSocket upgrade through nginx over TLS."""
    with _tls(port, host) as sock:
        return _handshake(sock, host, path, headers)


def websocket_echo(port: int, host: str, path: str, message: str) -> tuple[str, str]:
    """(status line of the handshake answer, text echoed back) through nginx over TLS."""
    with _tls(port, host) as sock:
        status, _ = _handshake(sock, host, path, {})
        if " 101 " not in f"{status} ":
            return status, ""
        write_frame(sock, message.encode(), mask=True)
        _, payload = read_frame(sock)
        write_frame(sock, b"", opcode=8, mask=True)
        return status, payload.decode()


def raw_request(port: int, host: str, head: str, headers: Mapping[str, str]) -> tuple[str, dict[str, str], bytes]:
    """Send only a request head (no body) and read the answer: nginx judges Content-Length first."""
    lines = [head, f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    with _tls(port, host) as sock:
        sock.sendall("\r\n".join(lines).encode())
        status, answer_headers, body = _read_head(sock)
        length = int(answer_headers.get("content-length", "0") or 0)
        while len(body) < length:
            chunk = sock.recv(4096)
            if not chunk:
                break
            body += chunk
    return status, answer_headers, body


def sse_post(
    port: int, host: str, path: str, body: bytes, content_type: str, extra: Mapping[str, str] | None = None
) -> tuple[http.client.HTTPSConnection, http.client.HTTPResponse]:
    """POST through nginx asking for an event stream (and offering gzip, which must not be used)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=insecure_context())
    headers = {"Host": host, "Content-Type": content_type, "Accept": "text/event-stream", "Accept-Encoding": "gzip"}
    conn.request("POST", path, body=body, headers={**headers, **(extra or {})})
    return conn, conn.getresponse()


def read_event(resp: http.client.HTTPResponse) -> tuple[str, dict[str, Any]] | None:
    """The next Server-Sent Event (name, JSON data) as it arrives; None at the end of the stream."""
    name, data = "message", ""
    while True:
        line = resp.readline().decode()
        if not line:
            return None
        line = line.rstrip("\r\n")
        if not line and data:
            return name, json.loads(data)
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
