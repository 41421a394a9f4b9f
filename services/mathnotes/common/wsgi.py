"""Serve a WSGI app with waitress until SIGTERM/SIGINT, then drain and return.

Why waitress: ``mathnotes-ingest`` runs its MQTT consumer, parser and writer threads in the
same process as its HTTP API, so the server must live in-process (gunicorn, which
``mathnotes-vision`` uses, forks workers that would each need their own consumer). waitress is
a production WSGI server that runs in a thread-pool inside the calling process, with the
bounds this needs: ``threads`` requests run at once (the rest wait in its queue),
``connection_limit`` open connections (past it the listener stops accepting until one closes),
request bodies far larger than ``max_body_bytes`` refused before they are read, bodies spilled to a
temporary file past :data:`INBUF_BYTES` so waiting requests hold little memory, headers capped
at :data:`HEADER_BYTES`, idle connections closed after :data:`IDLE_S`. Werkzeug's server, used
before, is a development server with none of these.

On SIGTERM the listener is closed (new connections are refused), requests already received
are finished and answered (for up to ``drain_s``), then the ``on_stop`` callbacks run in order
(flush queues, disconnect). Console scripts call :func:`serve` and exit 0 afterwards.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from waitress import wasyncore
from waitress.server import BaseWSGIServer, create_server

from .logs import get_logger

__all__ = ["HEADER_BYTES", "IDLE_S", "INBUF_BYTES", "SLACK_BYTES", "serve"]

log = get_logger("mathnotes.common.wsgi")
INBUF_BYTES = 64 * 1024  # of a request body held in memory; the rest waits in a temporary file
HEADER_BYTES = 32 * 1024
SLACK_BYTES = 1024 * 1024  # past max_body_bytes + this, a body is refused unread
IDLE_S = 60
POLL_S = 0.2


def _busy(server: BaseWSGIServer) -> bool:
    """True while a request is queued, running, or its answer not yet sent."""
    if server.task_dispatcher.queue:
        return True
    return any(ch.requests or ch.total_outbufs_len for ch in list(server.active_channels.values()))


def serve(
    app: Any,
    host: str,
    port: int,
    *,
    name: str,
    on_stop: Sequence[Callable[[], None]] = (),
    ready: threading.Event | None = None,
    threads: int = 4,
    connection_limit: int = 64,
    max_body_bytes: int = 1024 * 1024,
    drain_s: float = 30.0,
) -> None:
    """Serve ``app`` until SIGTERM/SIGINT; then drain requests in flight and run ``on_stop``.

    Bodies up to ``max_body_bytes`` + :data:`SLACK_BYTES` reach the app (which answers those over
    ``max_body_bytes`` with its own JSON error); larger ones the server refuses unread, with a
    plain-text 413, and closes the connection.
    """
    socket_map: dict[int, Any] = {}
    server = create_server(
        app,
        map=socket_map,
        host=host,
        port=port,
        threads=threads,
        connection_limit=connection_limit,
        max_request_body_size=max_body_bytes + SLACK_BYTES + 1,
        inbuf_overflow=INBUF_BYTES,
        max_request_header_size=HEADER_BYTES,
        channel_timeout=IDLE_S,
        asyncore_use_poll=True,
        ident=name,
    )
    assert isinstance(server, BaseWSGIServer)  # one listen address
    stopping = threading.Event()

    def _signal(signum: int, _frame: FrameType | None) -> None:
        if not stopping.is_set():
            log.info("%s stopping on %s, draining", name, signal.Signals(signum).name)
        stopping.set()

    previous = {sig: signal.signal(sig, _signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    bound = int(server.effective_port)
    log.info(
        "%s listening on http://%s:%d",
        name,
        host,
        bound,
        extra={"port": bound, "threads": threads, "connection_limit": connection_limit},
    )
    if ready is not None:
        ready.set()
    try:
        while not stopping.is_set():
            wasyncore.loop(timeout=POLL_S, map=socket_map, use_poll=True, count=1)
        wasyncore.dispatcher.close(server)  # stop listening; the trigger stays for answers in flight
        deadline = time.monotonic() + drain_s
        while _busy(server) and time.monotonic() < deadline:
            wasyncore.loop(timeout=POLL_S, map=socket_map, use_poll=True, count=1)
        if _busy(server):
            log.warning("%s: requests still running after %.0f s of draining", name, drain_s)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
    finally:
        wasyncore.close_all(socket_map)
        for callback in on_stop:
            try:
                callback()
            except Exception:
                log.exception("error while draining %s", name)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("%s stopped", name)
