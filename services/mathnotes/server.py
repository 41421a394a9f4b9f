"""Serve a WSGI app until SIGTERM/SIGINT, then drain and return.

The threaded server stops accepting, waits for requests in flight, then runs
the ``on_stop`` callbacks (flush queues, disconnect) in order. Console scripts
call :func:`serve` and exit 0 afterwards.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from werkzeug.serving import make_server

from .logs import get_logger

__all__ = ["serve"]

log = get_logger("mathnotes.server")


def serve(
    app: Any,
    host: str,
    port: int,
    *,
    name: str,
    on_stop: Sequence[Callable[[], None]] = (),
    ready: threading.Event | None = None,
) -> None:
    server = make_server(host, port, app, threaded=True)
    server.daemon_threads = False  # type: ignore[attr-defined]  # join request threads on close
    stopping = threading.Event()

    def _signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        log.info("%s stopping on %s, draining", name, signal.Signals(signum).name)
        threading.Thread(target=server.shutdown, name="shutdown", daemon=True).start()

    previous = {sig: signal.signal(sig, _signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("%s listening on http://%s:%d", name, host, server.server_port, extra={"port": server.server_port})
    if ready is not None:
        ready.set()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for callback in on_stop:
            try:
                callback()
            except Exception:
                log.exception("error while draining %s", name)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("%s stopped", name)
